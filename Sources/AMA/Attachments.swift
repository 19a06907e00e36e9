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

    /// What the bytes are, from their signature; a file name or a declared type is not trusted.
    static func mediaType(of content: Data) -> String? {
        let signatures: [(String, [UInt8])] = [
            ("application/pdf", Array("%PDF-".utf8)),
            ("image/png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
            ("image/jpeg", [0xFF, 0xD8, 0xFF]),
            ("image/tiff", [0x49, 0x49, 0x2A, 0x00]),
            ("image/tiff", [0x4D, 0x4D, 0x00, 0x2A]),
        ]
        return signatures.first { content.starts(with: $0.1) }?.0
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
        case .unsupportedType: "the attachment is not a PDF, PNG, JPEG or TIFF scan (judged by its content, not its name)"
        case .corrupt(let sha256): "stored attachment \(sha256) no longer matches its checksum; restore the AMA database from a backup"
        }
    }
}
