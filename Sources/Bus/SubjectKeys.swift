import Crypto
import Foundation
import GRDB
import Synchronization

/// The keys that seal the personal fields of each subject's events (`Personal`), in the log's own
/// file (tables `subject_keys`, `erased_subjects`) so that a key is durable in the same commit as
/// the first event sealed with it. Deleting a subject's key erases those fields from every event,
/// every replay and every backup of the log, while the rest of each event stays (crypto-shredding).
public final class SubjectKeys: Sendable {
    private let pool: DatabasePool
    /// Keys known to be stored, for sealing (the log's writer) and opening (modules' deliveries).
    private let cache = Mutex<[String: SymmetricKey]>([:])

    init(pool: DatabasePool) { self.pool = pool }

    /// The subject's key, inside the writer's transaction `db`: known, stored, or made and stored
    /// now, so it is durable in the same commit as the event it seals. `made` collects new keys;
    /// they join the cache once that commit succeeded (`remember`). Sealing and erasure both run
    /// on the log's writer, one after the other, so an erased key is never stored again.
    func sealingKey(for subject: String, _ db: Database, made: inout [String: SymmetricKey]) throws -> SymmetricKey {
        if let known = made[subject] ?? cache.withLock({ $0[subject] }) { return known }
        if let stored = try Data.fetchOne(db.cachedStatement(sql: "SELECT key FROM subject_keys WHERE subject = ?"), arguments: [subject]) {
            let key = SymmetricKey(data: stored)
            cache.withLock { $0[subject] = key }
            return key
        }
        let key = SymmetricKey(size: .bits256)
        try db.cachedStatement(sql: "INSERT INTO subject_keys (subject, key) VALUES (?, ?)").execute(arguments: [subject, key.withUnsafeBytes { Data($0) }])
        made[subject] = key
        return key
    }

    /// Keys made in a commit that is now durable.
    func remember(_ made: [String: SymmetricKey]) {
        guard !made.isEmpty else { return }
        cache.withLock { $0.merge(made) { _, new in new } }
    }

    /// The subject's key for reading, or nil when it has none (erased, or never had personal data).
    public func openingKey(for subject: String) throws -> SymmetricKey? {
        if let known = cache.withLock({ $0[subject] }) { return known }
        return try pool.read { db in try Data.fetchOne(db, sql: "SELECT key FROM subject_keys WHERE subject = ?", arguments: [subject]) }
            .map { SymmetricKey(data: $0) }
    }

    /// Deletes the subject's key in `db` (on the log's writer) and forgets it. Returns whether
    /// there was a key.
    func erase(_ subject: String, reason: String, _ db: Database) throws -> Bool {
        cache.withLock { _ = $0.removeValue(forKey: subject) }
        // Overwrite the deleted row's bytes instead of leaving them in a free page.
        try db.execute(sql: "PRAGMA secure_delete = ON")
        try db.execute(sql: "DELETE FROM subject_keys WHERE subject = ?", arguments: [subject])
        let deleted = db.changesCount > 0
        try db.execute(sql: "INSERT INTO erased_subjects (subject, reason) VALUES (?, ?)", arguments: [subject, reason])
        return deleted
    }

    /// The subjects erased so far, with when and why.
    public func erased() throws -> [(subject: String, at: String, reason: String)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT subject, erased_at, reason FROM erased_subjects ORDER BY rowid").map { ($0["subject"], $0["erased_at"], $0["reason"]) }
        }
    }
}

/// Seals and opens the personal fields of an envelope in place: only the bytes of those values
/// change, so sealing costs a scan of the envelope and one AES-GCM per field, not a JSON rewrite.
public enum Sealing {
    /// `json` with the values of `fields` inside `data` replaced by `{"sealed":"…"}`; the event id
    /// and the field name are authenticated with each value, so a sealed value cannot be moved.
    static func seal(_ json: [UInt8], fields: Set<String>, id: String, key: SymmetricKey) throws -> [UInt8] {
        var output = json
        // From the back, so the ranges found stay valid while earlier ones are replaced.
        for (name, range) in JSONScan.dataMembers(json, named: fields).reversed() {
            let box = try AES.GCM.seal(json[range], using: key, authenticating: Array((id + "/" + name).utf8))
            guard let combined = box.combined else { throw EnvelopeError(.storageFailed, "sealing event \(id) failed") }
            output.replaceSubrange(range, with: Array(#"{"sealed":""#.utf8) + Array(combined.base64EncodedString().utf8) + Array(#""}"#.utf8))
        }
        return output
    }

    /// `json` with every sealed personal field opened, or marked `{"erased":true}` when the
    /// subject's key is gone. Unchanged when it holds nothing sealed.
    public static func open(_ json: [UInt8], id: String, subject: String?, keys: SubjectKeys) throws -> [UInt8] {
        guard json.firstRange(of: Array(#"{"sealed":"#.utf8)) != nil,
              var envelope = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any],
              var data = envelope["data"] as? [String: Any] else { return json }
        let key = try subject.flatMap { try keys.openingKey(for: $0) }
        for (name, value) in data {
            guard let sealed = (value as? [String: Any])?["sealed"] as? String else { continue }
            guard let key else {
                data[name] = ["erased": true]
                continue
            }
            guard let combined = Data(base64Encoded: sealed),
                  let plain = try? AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: key, authenticating: Array((id + "/" + name).utf8)) else {
                throw EnvelopeError(.invalidData, "event \(id): `data.\(name)` does not open with its subject's key")
            }
            data[name] = try JSONSerialization.jsonObject(with: plain, options: .fragmentsAllowed)
        }
        envelope["data"] = data
        return Array(try JSONSerialization.data(withJSONObject: envelope, options: [.sortedKeys, .withoutEscapingSlashes]))
    }
}

/// Finds members of the top-level `data` object in envelope JSON that the decoder already
/// accepted, so it assumes well-formed input and never reads past the end.
enum JSONScan {
    /// The byte ranges of the values of `names` in `data`, in document order, every occurrence.
    static func dataMembers(_ json: [UInt8], named names: Set<String>) -> [(name: String, range: Range<Int>)] {
        var found: [(String, Range<Int>)] = []
        members(json, objectAt: skipSpace(json, 0), named: ["data"]) { _, data in
            members(json, objectAt: data.lowerBound, named: names) { name, value in found.append((name, value)) }
        }
        return found
    }

    /// Calls `body` with each member of the object at `start` whose key (unescaped) is one of
    /// `names`, and its value's range. Keys are compared as bytes; only escaped ones are decoded.
    static func members(_ json: [UInt8], objectAt start: Int, named names: Set<String>, _ body: (String, Range<Int>) -> Void) {
        guard start < json.count, json[start] == UInt8(ascii: "{") else { return }
        let wanted = names.map { (name: $0, bytes: Array($0.utf8)) }
        var index = skipSpace(json, start + 1)
        while index < json.count, json[index] == UInt8(ascii: "\"") {
            let keyEnd = skipString(json, index)
            let key = json[index..<keyEnd]
            index = skipSpace(json, keyEnd)
            index = skipSpace(json, index + 1)  // the colon
            let valueEnd = skipValue(json, index)
            let inner = key.dropFirst().dropLast()
            if inner.contains(UInt8(ascii: "\\")) {
                let decoded = decodeKey(key)
                if names.contains(decoded) { body(decoded, index..<valueEnd) }
            } else if let match = wanted.first(where: { $0.bytes.elementsEqual(inner) }) {
                body(match.name, index..<valueEnd)
            }
            index = skipSpace(json, valueEnd)
            if index < json.count, json[index] == UInt8(ascii: ",") { index = skipSpace(json, index + 1) }
        }
    }

    /// A key with escapes as text (`"in\u0073z"` is `insz`).
    static func decodeKey(_ quoted: ArraySlice<UInt8>) -> String {
        (try? JSONDecoder().decode(String.self, from: Data(quoted))) ?? ""
    }

    static func skipSpace(_ json: [UInt8], _ start: Int) -> Int {
        var index = start
        while index < json.count, isSpace(json[index]) { index += 1 }
        return index
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    /// The index after the string that starts at `start` (its opening quote).
    static func skipString(_ json: [UInt8], _ start: Int) -> Int {
        var index = start + 1
        while index < json.count, json[index] != UInt8(ascii: "\"") {
            index += json[index] == UInt8(ascii: "\\") ? 2 : 1
        }
        return min(index + 1, json.count)
    }

    /// The index after the value that starts at `start`.
    static func skipValue(_ json: [UInt8], _ start: Int) -> Int {
        guard start < json.count else { return start }
        switch json[start] {
        case UInt8(ascii: "\""):
            return skipString(json, start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var index = start
            while index < json.count {
                switch json[index] {
                case UInt8(ascii: "\""): index = skipString(json, index); continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return index + 1 }
                default: break
                }
                index += 1
            }
            return index
        default:
            var index = start
            while index < json.count, json[index] != UInt8(ascii: ","), json[index] != UInt8(ascii: "}"), json[index] != UInt8(ascii: "]"), !isSpace(json[index]) {
                index += 1
            }
            return index
        }
    }
}
