import AMAContracts
import Crypto
import Foundation
import Storage

/// The scans that come with electronic submissions, kept by the AMA module only and named by
/// their content: the same bytes stored twice are one attachment, and a read checks that the
/// bytes still hash to their name. Events carry an `AttachmentReference`, never the bytes.
public struct AMAAttachments: Sendable {
    /// The regulation's limit (DOMAIN.md, AMA in detail: one scan of at most 10 MB). A rule set
    /// may ask less; the submission is checked against its own rule set.
    public static let maximumBytes = 10 << 20

    let database: any SQLStore
    public init(database: any SQLStore) { self.database = database }

    /// Stores `content` if it is a PDF or an image of at most `maximumBytes`, judged by its bytes.
    public func store(_ content: Data) async throws -> AttachmentReference {
        let reference = try Self.reference(for: content)
        try await database.write { db in
            try db.execute(sql: """
                INSERT INTO attachment (sha256, media_type, bytes, content) VALUES (?, ?, ?, ?)
                ON CONFLICT(sha256) DO NOTHING
                """, arguments: [reference.sha256, reference.mediaType, reference.bytes, content])
        }
        return reference
    }

    /// The bytes of a stored attachment; nil when none has that name.
    public func content(_ sha256: String) async throws -> Data? {
        guard let content = try await database.read({ db in try Data.fetchOne(db, sql: "SELECT content FROM attachment WHERE sha256 = ?", arguments: [sha256]) })
        else { return nil }
        guard Self.hex(SHA256.hash(data: content)) == sha256 else { throw AttachmentError.corrupt(sha256: sha256) }
        return content
    }

    /// Checks `content` and names it, without storing it.
    public static func reference(for content: Data) throws(AttachmentError) -> AttachmentReference {
        guard !content.isEmpty else { throw .empty }
        guard content.count <= maximumBytes else { throw .tooLarge(bytes: content.count, maximum: maximumBytes) }
        guard let mediaType = mediaType(of: content) else { throw .unsupportedType }
        return AttachmentReference(sha256: hex(SHA256.hash(data: content)), mediaType: mediaType, bytes: content.count)
    }

    /// What the bytes are, from their structure: the signature at the start and what the format
    /// puts at its end (a PDF's `%%EOF`, a PNG's IHDR and IEND chunks, a JPEG's end-of-image
    /// marker, a TIFF's first directory inside the file). A file name or a declared type is not
    /// trusted, and markup near the start (what a browser would sniff as HTML or SVG, as in
    /// `FF D8 FF <svg onload=…>`) makes any file unacceptable.
    static func mediaType(of content: Data) -> String? {
        let bytes = [UInt8](content)
        let head = bytes.prefix(1024), tail = bytes.suffix(1024)
        guard !containsMarkup(head) else { return nil }
        func starts(_ signature: [UInt8]) -> Bool { bytes.starts(with: signature) }
        func tailHas(_ marker: [UInt8], within count: Int) -> Bool { contains(Array(tail.suffix(count)), marker) }
        if starts(Array("%PDF-".utf8)) { return tailHas(Array("%%EOF".utf8), within: 1024) ? "application/pdf" : nil }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            return bytes.count >= 33 && Array(bytes[12..<16]) == Array("IHDR".utf8) && tailHas(Array("IEND".utf8), within: 12) ? "image/png" : nil
        }
        if starts([0xFF, 0xD8, 0xFF]) { return tailHas([0xFF, 0xD9], within: 64) ? "image/jpeg" : nil }
        let littleEndian = starts([0x49, 0x49, 0x2A, 0x00])
        if littleEndian || starts([0x4D, 0x4D, 0x00, 0x2A]) {
            guard bytes.count >= 8 else { return nil }
            let field = Array(bytes[4..<8])
            let directory = (littleEndian ? field.reversed() : field).reduce(0) { $0 << 8 | Int($1) }
            return directory >= 8 && directory < bytes.count ? "image/tiff" : nil
        }
        return nil
    }

    private static func containsMarkup(_ head: ArraySlice<UInt8>) -> Bool {
        let lowered = head.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
        return ["<svg", "<script", "<html", "<!doctype html", "<iframe", "<body", "<img", "<object", "<embed"]
            .contains { contains(lowered, Array($0.utf8)) }
    }

    private static func contains(_ bytes: [UInt8], _ marker: [UInt8]) -> Bool {
        guard bytes.count >= marker.count else { return false }
        return (0...(bytes.count - marker.count)).contains { bytes[$0..<$0 + marker.count].elementsEqual(marker) }
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { byte in String(byte, radix: 16).count == 1 ? "0" + String(byte, radix: 16) : String(byte, radix: 16) }.joined()
    }
}

public enum AttachmentError: Error, CustomStringConvertible, Equatable {
    case empty
    case tooLarge(bytes: Int, maximum: Int)
    case unsupportedType
    case corrupt(sha256: String)

    public var description: String {
        switch self {
        case .empty: "the attachment is empty"
        case .tooLarge(let bytes, let maximum): "the attachment has \(bytes) bytes; at most \(maximum) are accepted (one scan of at most 10 MB)"
        case .unsupportedType: "the attachment is not a whole PDF, PNG, JPEG or TIFF scan (judged by its content, not its name; markup such as <svg> or <script> near the start is refused)"
        case .corrupt(let sha256): "stored attachment \(sha256) no longer matches its checksum; restore the AMA database from a backup"
        }
    }
}
