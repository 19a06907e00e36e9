import AMA
import AMAContracts
import Foundation
import GRDB
import ModuleKit
import Storage
import TestSupport
import Testing

/// The AMA module's scans: accepted by content, named by checksum, checked when read.
@Suite struct AttachmentTests {
    static let pdf = Data("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n".utf8)
    static let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8) + [UInt8](repeating: 1, count: 17)
                          + [0, 0, 0, 0] + Array("IEND".utf8) + [0xAE, 0x42, 0x60, 0x82])
    static let jpeg = Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16] + Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9])

    @Test func typeComesFromTheContent() throws {
        #expect(try AMAAttachments.reference(for: Self.pdf).mediaType == "application/pdf")
        #expect(try AMAAttachments.reference(for: Self.png).mediaType == "image/png")
        #expect(try AMAAttachments.reference(for: Self.jpeg).mediaType == "image/jpeg")
        #expect(try AMAAttachments.reference(for: Data(Array("II*\0".utf8) + [8, 0, 0, 0, 1, 0])).mediaType == "image/tiff")
        // A signature alone is not a file: a JPEG start followed by SVG markup was once stored as a
        // scan, and so were files cut short.
        #expect(throws: AttachmentError.unsupportedType) { try AMAAttachments.reference(for: Data([0xFF, 0xD8, 0xFF] + Array("<svg onload=alert(1)>".utf8) + [0xFF, 0xD9])) }
        #expect(throws: AttachmentError.unsupportedType) { try AMAAttachments.reference(for: Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16])) }
        #expect(throws: AttachmentError.unsupportedType) { try AMAAttachments.reference(for: Self.pdf.prefix(20)) }
        #expect(throws: AttachmentError.unsupportedType) { try AMAAttachments.reference(for: Self.png.prefix(20)) }
        #expect(throws: AttachmentError.unsupportedType) { try AMAAttachments.reference(for: Data("%PDF-1.7\n<html><script>x</script>\n%%EOF".utf8)) }
        #expect(throws: AttachmentError.unsupportedType) { try AMAAttachments.reference(for: Data(Array("II*\0".utf8) + [0xFF, 0, 0, 0])) }
        // A text file or an executable is refused, whatever it would be called.
        #expect(throws: AttachmentError.unsupportedType) { try AMAAttachments.reference(for: Data("scan.pdf but really text".utf8)) }
        #expect(throws: AttachmentError.unsupportedType) { try AMAAttachments.reference(for: Data([0x7F, 0x45, 0x4C, 0x46, 2, 1])) }
        #expect(throws: AttachmentError.empty) { try AMAAttachments.reference(for: Data()) }
    }

    @Test func tenMegabytesIsTheLimit() throws {
        let end = Data("%%EOF\n".utf8)
        var atLimit = Self.pdf
        atLimit.append(Data(count: AMAAttachments.maximumBytes - atLimit.count - end.count))
        atLimit.append(end)
        #expect(try AMAAttachments.reference(for: atLimit).bytes == 10 << 20)
        atLimit.append(0)
        #expect(throws: AttachmentError.tooLarge(bytes: (10 << 20) + 1, maximum: 10 << 20)) { try AMAAttachments.reference(for: atLimit) }
    }

    @Test func storedOnceUnderItsChecksumAndVerifiedOnRead() async throws {
        let directory = TemporaryDirectory()
        let store = try ModuleStore(module: AMAModule(), path: directory.file("ama.sqlite"))
        let attachments = AMAAttachments(database: store.database)
        let first = try await attachments.store(Self.pdf)
        let again = try await attachments.store(Self.pdf)
        #expect(first == again)
        // The SHA-256 of the bytes, as `sha256sum` prints it.
        #expect(first.sha256 == "14fb1bb0a3f76503d164c7fd78a07c420c2f07eecd41793b406c6f75f2bc2aba")
        #expect(try await store.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attachment") } == 1)
        #expect(try await attachments.content(first.sha256) == Self.pdf)
        #expect(try await attachments.content(String(repeating: "0", count: 64)) == nil)

        // A changed byte on disk is found, not served.
        try await store.database.write { db in
            try db.execute(sql: "UPDATE attachment SET content = ? WHERE sha256 = ?", arguments: [Data("%PDF-1.7 tampered".utf8), first.sha256])
        }
        await #expect(throws: AttachmentError.corrupt(sha256: first.sha256)) { try await attachments.content(first.sha256) }
    }
}
