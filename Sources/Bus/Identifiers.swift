import BusCore
import Crypto

extension EventID {
    /// A UUID made from `name` (version 8, from its SHA-256): the same name always gives the same
    /// id, so an event made in answer to another is appended once however often that one is handled.
    public static func derived(from name: String) -> String {
        var bytes = Array(SHA256.hash(data: Array(name.utf8)).prefix(16))
        bytes[6] = 0x80 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        let characters = Array(bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined())
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }
}

extension Identifier {
    /// An id made of others (a referral is its case's and its network's): the parts joined, or,
    /// when that would be longer than an id may be, the start of it and a digest of the whole,
    /// so that every combination still has an id of its own.
    public static func joining(_ parts: [String], separator: String) -> String {
        let joined = parts.joined(separator: separator)
        guard joined.unicodeScalars.count > maxLength else { return joined }
        let digest = SHA256.hash(data: Array(joined.utf8)).prefix(12).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        return String(String.UnicodeScalarView(joined.unicodeScalars.prefix(maxLength - 25))) + "~" + digest
    }
}
