import COpenSSL
import Crypto
import Foundation
import GRDB
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import Storage
import Synchronization

/// The keys that seal the personal fields of each subject's events (`Personal`), in the log's own
/// tables so that a key is durable in the same commit as the first event sealed with it. Deleting a
/// subject's keys erases those fields from every event, every replay and every backup of the log,
/// while the rest of each event stays (crypto-shredding).
///
/// Keys live in `sealing_keys`, found by their id, which each sealed value names. The table has
/// no index on `subject`: subjects (case ids) arrive in any order, and keeping an index of them
/// dirtied a random page per new subject in every commit, which halved ingest. Without it a new
/// key is appended at the end of the table; a subject may hold several keys (a new one after a
/// restart, when the process no longer remembers the one it made), and erasure finds them all
/// with one scan. `subject_keys` holds the keys of values sealed before key ids existed.
///
/// Sealing runs on the thread that appends (`seal`), beside the other appenders and off the
/// writer's path; the writer only stores a new key in the commit of its first event (`storedForm`,
/// `insert`).
public final class SubjectKeys: Sendable {
    typealias KeyID = Int64

    /// A key this process made to seal a subject's fields. The sealing cache and every envelope
    /// sealed with it share this object, so the log's writer learns whether to store it, or to
    /// seal the envelope again, from the envelope itself rather than from a table of ids.
    final class SealingKey: Sendable {
        let id: KeyID
        let key: SymmetricKey
        let subject: String
        /// Only the log's writer sets it: true from the transaction that inserts the key, false
        /// again if that commit fails.
        let stored = Atomic(false)
        /// Set once the commit that inserted it is durable: only then may the sealing cache
        /// forget it, since erasure finds a key that is not stored only in that cache.
        let durable = Atomic(false)
        /// Set by erasure: an event sealed with it but not yet stored is sealed again with a new
        /// key, or its fields would be born erased (and storing the key would bring them back).
        let erased = Atomic(false)

        init(id: KeyID, key: SymmetricKey, subject: String) {
            self.id = id
            self.key = key
            self.subject = subject
        }
    }

    private let store: any SQLStore
    /// How many keys each cache holds before it is thinned: a core meets a new case every few
    /// events, and keeping every key it made or read would grow its memory without end.
    private let cacheLimit: Int
    /// The key this process seals each subject's fields with; stored with the first event it seals.
    private let sealing = NIOLockedValueBox<[String: SealingKey]>([:])
    /// Ids for new keys: given out here rather than by the database, so sealing needs no
    /// transaction. In SQLite only this process writes the log, and it starts above every id the
    /// log has ever held. In PostgreSQL, where several nodes may share the log, each process
    /// starts at its incarnation (a sequence of the log) times 2^32, above every other's.
    private let lastID: Atomic<KeyID>
    /// Keys for opening, by id: those this process made, and those it read. Erasure removes them.
    private let opening = NIOLockedValueBox<[KeyID: SymmetricKey]>([:])
    /// Random bytes for new keys, drawn from the system 4 KiB at a time: one system call per key
    /// was about a sixth of what sealing cost.
    private let keyMaterial = NIOLockedValueBox(KeyMaterial())

    init(store: any SQLStore, cacheLimit: Int) throws {
        self.store = store
        self.cacheLimit = cacheLimit
        switch store.dialect {
        case .sqlite:
            // Above every id the log has held: erased ones are remembered in sealing_key_ids.
            lastID = Atomic(try store.readNow { db in
                try KeyID.fetchOne(db, sql: """
                    SELECT MAX(n) FROM (SELECT highest_erased AS n FROM sealing_key_ids UNION ALL SELECT MAX(id) FROM sealing_keys) AS ids
                    """)
            } ?? 0)
        case .postgres:
            let incarnation = try store.writeNow { db in try KeyID.fetchOne(db, sql: "SELECT nextval('sealing_key_incarnations')") } ?? 0
            lastID = Atomic(incarnation << 32)
        }
    }

    /// `envelope` with its personal fields sealed with the key this process seals the subject's
    /// fields with, made now when there is none. Runs on the appending thread.
    func seal(_ envelope: Envelope) throws(EnvelopeError) -> Envelope {
        try seal([envelope])[0].get()
    }

    /// Each envelope with its personal fields sealed (those without personal fields unchanged),
    /// in order. The subjects' keys are found or made under one lock for the whole batch; the
    /// fields of a large batch are then sealed on every core, without a lock of this object.
    func seal(_ envelopes: [Envelope]) -> [Result<Envelope, EnvelopeError>] {
        let keys: [Result<SealingKey, EnvelopeError>?] = sealing.withLockedValue { keys in
            var made: [(id: KeyID, key: SymmetricKey)] = []
            // Remembered for opening before the lock is given back, so that an erasure, which
            // takes it, finds every key it must forget.
            defer { if !made.isEmpty { remember(made) } }
            return envelopes.map { envelope -> Result<SealingKey, EnvelopeError>? in
                guard !envelope.personalFields.isEmpty else { return nil }
                guard let subject = envelope.subject else {
                    return .failure(EnvelopeError(.missingAttribute, "event \(envelope.id) carries personal data (\(envelope.personalFields.sorted().joined(separator: ", "))) and needs a `subject`: its personal fields are sealed with the subject's key"))
                }
                if let known = keys[subject] { return .success(known) }
                if keys.count >= cacheLimit {
                    // The subject of a durable key gets a new one with its next event (a subject may
                    // hold several); keys not yet durable stay for erasure to find.
                    keys = keys.filter { !$0.value.durable.load(ordering: .relaxed) }
                }
                let key = SealingKey(id: lastID.add(1, ordering: .relaxed).newValue, key: keyMaterial.withLockedValue { $0.nextKey() }, subject: subject)
                keys[subject] = key
                made.append((key.id, key.key))
                return .success(key)
            }
        }
        return Array(zip(envelopes, keys)).concurrentMap(minimumPerThread: Self.sealingsPerThread) { envelope, key in
            guard let key else { return .success(envelope) }
            return key.flatMap { key in
                do {
                    var sealed = envelope.storing(try Sealing.seal(envelope.json, values: envelope.personalValues, id: envelope.id, key: key))
                    sealed.sealing = Envelope.SealedWith(key: key, unsealed: envelope.json)
                    return .success(sealed)
                } catch {
                    return .failure(EnvelopeError(.storageFailed, "sealing the personal fields of event \(envelope.id) failed: \(error)"))
                }
            }
        }
    }

    /// The fewest envelopes worth a thread of their own when a batch is sealed (about 2 us each;
    /// waking a thread costs tens of microseconds).
    static let sealingsPerThread = 64

    /// On the log's writer, for the transaction that appends `envelope`: the JSON to store, and
    /// the key that sealed it added to `newKeys` unless stored already. When an erasure deleted
    /// that key since it was sealed, the envelope is sealed again with a new key first.
    func storedForm(of envelope: Envelope, newKeys: inout [SealingKey]) throws -> [UInt8] {
        guard let sealing = envelope.sealing, var key = sealing.key as? SealingKey else { return envelope.json }
        var json = envelope.json
        if key.erased.load(ordering: .relaxed) {
            var unsealed = envelope.storing(sealing.unsealed)
            unsealed.sealing = nil
            let sealedAgain = try seal(unsealed)
            json = sealedAgain.json
            guard let again = sealedAgain.sealing?.key as? SealingKey else { return json }
            key = again
        }
        if !key.stored.load(ordering: .relaxed) {
            key.stored.store(true, ordering: .relaxed)
            newKeys.append(key)
        }
        return json
    }

    /// Inserts `newKeys` in the writer's transaction: in SQLite one row at a time on a kept
    /// statement, bound through SQLite's own calls like the events; in PostgreSQL many rows per
    /// statement, a round trip each.
    func insert(_ newKeys: ArraySlice<SealingKey>, _ db: any SQLDatabase) throws {
        if let sqlite = (db as? Storage.SQLiteConnection)?.db {
            guard !newKeys.isEmpty else { return }
            var insert = try SQLiteRowInsert("INSERT INTO sealing_keys (id, subject, key) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING", sqlite)
            for key in newKeys {
                insert.integer(1, key.id)
                insert.text(2, key.subject)
                try insert.insert(blob: 3, key.key)
            }
            return
        }
        let rowsPerStatement = 200
        for start in stride(from: newKeys.startIndex, to: newKeys.endIndex, by: rowsPerStatement) {
            let chunk = newKeys[start..<min(start + rowsPerStatement, newKeys.endIndex)]
            // A key whose commit seemed to fail (its answer lost) may be stored already: it is the
            // same key (ids are never handed out twice), and inserting it again must not fail
            // every later commit that carries it.
            let sql = "INSERT INTO sealing_keys (id, subject, key) VALUES " + repeatElement("(?, ?, ?)", count: chunk.count).joined(separator: ", ")
                + " ON CONFLICT (id) DO NOTHING"
            var values: [SQLValue] = []
            values.reserveCapacity(chunk.count * 3)
            for key in chunk {
                values += [.integer(key.id), .text(key.subject), .blob(key.key.withUnsafeBytes { Array($0) })]
            }
            try db.execute(sql: sql, arguments: SQLArguments(values))
        }
    }

    /// Called by the log's writer after each commit with the keys it inserted: durable when it
    /// succeeded; when it failed none of them is stored, so the next event sealed with one
    /// stores it.
    func commitEnded(newKeys: [SealingKey], succeeded: Bool) {
        for key in newKeys {
            if succeeded { key.durable.store(true, ordering: .relaxed) } else { key.stored.store(false, ordering: .relaxed) }
        }
    }

    /// Thrown instead of reading the log when only cached keys may be used.
    struct KeyNotCached: Error {}

    /// The key with `id`, or nil when it was erased. With `cachedOnly`, a key not in memory throws
    /// `KeyNotCached` rather than block the caller on a read.
    func openingKey(id: KeyID, cachedOnly: Bool = false) throws -> SymmetricKey? {
        if let known = opening.withLockedValue({ $0[id] }) { return known }
        if cachedOnly { throw KeyNotCached() }
        guard let stored = try store.readNow({ db in try Data.fetchOne(db, sql: "SELECT key FROM sealing_keys WHERE id = ?", arguments: [id]) }) else { return nil }
        let key = SymmetricKey(data: stored)
        remember([(id, key)])
        return key
    }

    /// Reads the keys of `ids` that are not in memory in one query per few hundred, and keeps
    /// them for opening: after a restart every event of a backlog names a key not in memory, and
    /// a read of its own for each was a transaction per event. Ids without a key (erased) stay
    /// out, for `openingKey` to find them gone.
    func cache(_ ids: Set<KeyID>) throws {
        let missing = opening.withLockedValue { cache in ids.filter { cache[$0] == nil } }.sorted()
        guard !missing.isEmpty else { return }
        let idsPerQuery = 500
        let found = try store.readNow { db in
            try stride(from: 0, to: missing.count, by: idsPerQuery).flatMap { start in
                let chunk = missing[start..<min(start + idsPerQuery, missing.count)]
                let sql = "SELECT id, key FROM sealing_keys WHERE id IN (" + repeatElement("?", count: chunk.count).joined(separator: ", ") + ")"
                return try SQLRow.fetchAll(db, sql: sql, arguments: SQLArguments(chunk.map { SQLValue.integer($0) })).map { row -> (id: KeyID, key: SymmetricKey) in
                    let key: Data = try row["key"]
                    return (try row["id"], SymmetricKey(data: key))
                }
            }
        }
        remember(found)
    }

    /// Caches `keys` for opening; a full cache starts again empty (keys are read back from the
    /// log when needed).
    private func remember(_ keys: [(id: KeyID, key: SymmetricKey)]) {
        opening.withLockedValue { cache in
            for (id, key) in keys {
                if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
                cache[id] = key
            }
        }
    }

    /// The key of values sealed before key ids existed, or nil when the subject has none.
    func legacyKey(for subject: String) throws -> SymmetricKey? {
        try store.readNow { db in try Data.fetchOne(db, sql: "SELECT key FROM subject_keys WHERE subject = ?", arguments: [subject]) }
            .map { SymmetricKey(data: $0) }
    }

    /// Deletes the subject's keys in `db` (on the log's writer) and forgets them. Returns whether
    /// there was a key.
    func erase(_ subject: String, reason: String, _ db: any SQLDatabase) throws -> Bool {
        if db.dialect == .sqlite {
            // Overwrite the deleted rows' bytes instead of leaving them in a free page.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        let ids = try KeyID.fetchAll(db, sql: "DELETE FROM sealing_keys WHERE subject = ? RETURNING id", arguments: [subject])
        if let highest = ids.max() {
            try db.execute(sql: "UPDATE sealing_key_ids SET highest_erased = \(db.dialect.greatest)(highest_erased, ?)", arguments: [highest])
        }
        if db.dialect == .postgres { try db.execute(sql: "UPDATE sealing_key_ids SET erasures = erasures + 1") }
        try db.execute(sql: "DELETE FROM subject_keys WHERE subject = ?", arguments: [subject])
        let deleted = !ids.isEmpty || db.changesCount > 0
        try db.execute(sql: "INSERT INTO erased_subjects (subject, reason) VALUES (?, ?)", arguments: [subject, reason])
        // The key this process seals the subject with may not be stored yet; it is erased too.
        let current = sealing.withLockedValue { $0.removeValue(forKey: subject) }
        current?.erased.store(true, ordering: .relaxed)
        opening.withLockedValue { cache in for id in ids + (current.map { [$0.id] } ?? []) { cache.removeValue(forKey: id) } }
        return deleted
    }

    /// How many erasures the log has seen (PostgreSQL only; nil in SQLite, where no other process
    /// erases): when it changed, another node may have deleted keys this one holds in memory.
    static func erasureCount(_ db: any SQLDatabase) throws -> Int64? {
        db.dialect == .postgres ? try Int64.fetchOne(db, sql: "SELECT erasures FROM sealing_key_ids") : nil
    }

    /// Forgets every key held in memory, after another node erased some: the next event of each
    /// subject is sealed with a new key, an envelope sealed but not yet stored is sealed again,
    /// and keys for opening are read back from the log (where erased ones are gone).
    func forgetAll() {
        let forgotten = sealing.withLockedValue { keys in
            defer { keys.removeAll() }
            return keys.values
        }
        for key in forgotten { key.erased.store(true, ordering: .relaxed) }
        opening.withLockedValue { $0.removeAll() }
    }

    /// The subjects erased so far, with when and why.
    public func erased() throws -> [(subject: String, at: String, reason: String)] {
        try store.readNow { db in
            try SQLRow.fetchAll(db, sql: "SELECT subject, erased_at, reason FROM erased_subjects ORDER BY rowid").map { (try $0["subject"], try $0["erased_at"], try $0["reason"]) }
        }
    }
}

/// Random bytes for keys, fetched in bulk and handed out 32 at a time; each byte is used once
/// and the buffer is overwritten when it is refilled.
private struct KeyMaterial {
    private var bytes: [UInt8] = []
    private var used = 0

    mutating func nextKey() -> SymmetricKey {
        if used + 32 > bytes.count {
            for index in bytes.indices { bytes[index] = 0 }
            bytes = Self.randomBytes(4096)
            used = 0
        }
        defer { used += 32 }
        return SymmetricKey(data: bytes[used..<used + 32])
    }

    /// `count` bytes from the kernel's generator in one read; `SymmetricKey(size:)` asks it for
    /// 8 bytes at a time.
    private static func randomBytes(_ count: Int) -> [UInt8] {
        if let urandom = FileHandle(forReadingAtPath: "/dev/urandom") {
            defer { try? urandom.close() }
            if let data = try? urandom.read(upToCount: count), data.count == count { return Array(data) }
        }
        return SymmetricKey(size: SymmetricKeySize(bitCount: count * 8)).withUnsafeBytes { Array($0) }
    }
}

/// AES-256-GCM through OpenSSL's libcrypto, with cipher contexts kept for reuse: swift-crypto's
/// `AES.GCM.seal` builds a context, a key schedule and several `Data` values per call, four
/// times what the cipher costs for a field of a few bytes (docs/performance.md).
enum FieldCipher {
    private static let contexts = NIOLockedValueBox<[Context]>([])

    /// An `EVP_CIPHER_CTX`, used by one caller at a time (taken from and given back to `contexts`).
    private struct Context: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// Writes the ciphertext of `plain`, then its 16-byte tag, to `output` (`plain.count + 16` bytes).
    static func seal(_ plain: UnsafeRawBufferPointer, key: SymmetricKey, nonce: UnsafeRawBufferPointer, authenticating authenticated: [UInt8],
                     into output: UnsafeMutableRawBufferPointer) throws(EnvelopeError) {
        // A key read back from storage may be damaged: refuse it instead of sealing with part of it.
        guard key.bitCount == 256 else { throw EnvelopeError(.storageFailed, "a sealing key in the log is \(key.bitCount) bits, not 256: the key store is damaged") }
        guard nonce.count == 12, output.count == plain.count + 16 else {
            throw EnvelopeError(.storageFailed, "AES-GCM needs a 12-byte nonce and room for the text and its tag")
        }
        guard let context = contexts.withLockedValue({ $0.popLast() }) ?? COpenSSL_gcm_context().map(Context.init(pointer:)) else {
            throw EnvelopeError(.storageFailed, "AES-GCM is not available from libcrypto")
        }
        defer { contexts.withLockedValue { $0.append(context) } }
        let sealed = key.withUnsafeBytes { key in
            authenticated.withUnsafeBytes { authenticated in
                COpenSSL_gcm_seal(context.pointer, key.baseAddress, nonce.baseAddress, authenticated.baseAddress, Int32(authenticated.count),
                                  plain.baseAddress, Int32(plain.count), output.baseAddress)
            }
        }
        guard sealed == 1 else { throw EnvelopeError(.storageFailed, "AES-GCM sealing failed in libcrypto") }
    }
}

/// Seals and opens the personal fields of an envelope in place: only the bytes of those values
/// change, so sealing costs one AES-GCM per field (the decoder found where they are), not a JSON rewrite.
public enum Sealing {
    /// Nonces for AES-GCM: a counter across the process instead of 12 random bytes per value (a
    /// system call each). A (key, nonce) pair must never repeat, and it cannot: a key seals only
    /// in the process that made it (after a restart a subject gets a new key), and this counter
    /// never goes back while that process lives.
    private static let nonces = Atomic<UInt64>(0)

    /// The next nonce: 12 bytes, the size GCM is fastest with: 4 zero bytes, then the count.
    private static func nextNonce() -> (UInt32, UInt32, UInt32) {
        let count = nonces.add(1, ordering: .relaxed).newValue
        return (0, UInt32(truncatingIfNeeded: count >> 32).bigEndian, UInt32(truncatingIfNeeded: count).bigEndian)
    }

    /// `json` with the personal `values` (found when the envelope was decoded) replaced by
    /// `{"sealed":"…","key":id}`; the event id and the field name are authenticated with each
    /// value, so a sealed value cannot be moved. The sealed form is swift-crypto's combined box
    /// (nonce, ciphertext, tag), which `open` reads with swift-crypto.
    static func seal(_ json: [UInt8], values: [PersonalValue], id: String, key: SubjectKeys.SealingKey) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(json.count + values.reduce(0) { $0 + $1.range.count * 4 / 3 + 80 })
        var copied = 0
        // "<event id>/<field name>", the field's name replaced for each value.
        var authenticated = Array(id.utf8)
        authenticated.append(UInt8(ascii: "/"))
        let idPart = authenticated.count
        var combined: [UInt8] = []
        try json.withUnsafeBytes { json in
            for value in values {
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: json[copied..<value.range.lowerBound]))
                authenticated.removeSubrange(idPart...)
                authenticated += value.name.utf8
                combined.removeAll(keepingCapacity: true)
                combined.append(contentsOf: repeatElement(0, count: 12 + value.range.count + 16))
                let nonce = nextNonce()
                try combined.withUnsafeMutableBytes { combined in
                    withUnsafeBytes(of: nonce) { combined.copyMemory(from: $0) }
                    try FieldCipher.seal(UnsafeRawBufferPointer(rebasing: json[value.range]), key: key.key, nonce: UnsafeRawBufferPointer(rebasing: combined[..<12]),
                                         authenticating: authenticated, into: UnsafeMutableRawBufferPointer(rebasing: combined[12...]))
                }
                output += #"{"sealed":""#.utf8
                appendBase64(combined, to: &output)
                output += #"","key":"#.utf8
                output += String(key.id).utf8
                output.append(UInt8(ascii: "}"))
                copied = value.range.upperBound
            }
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: json[copied...]))
        }
        return output
    }

    static let sealedMark = Array(#""sealed":"#.utf8)

    /// The sealed text and key id of `{"sealed":"…","key":id}` at `range`; nil for any other object.
    private static func sealedForm(_ json: [UInt8], at range: Range<Int>) -> (sealed: String, keyID: Int64?)? {
        json.withUnsafeBufferPointer { json in
            guard let members = try? EnvelopeScan.members(json, ofObjectAt: range),
                  let sealedRange = members.first(where: { $0.key == "sealed" })?.value,
                  let sealed = (try? EnvelopeScan.string(json, at: sealedRange)) ?? nil else { return nil }
            let keyID = members.first { $0.key == "key" }.flatMap { Int64(String(decoding: UnsafeBufferPointer(rebasing: json[$0.value]), as: UTF8.self)) }
            return (sealed, keyID)
        }
    }

    private static let base64Digits = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Appends `bytes` in base64 with padding, as `Data.base64EncodedData()` writes it, without
    /// the two `Data` values that took a fifth of a seal.
    static func appendBase64(_ bytes: [UInt8], to output: inout [UInt8]) {
        let digits = base64Digits
        var index = 0
        while index + 3 <= bytes.count {
            let group = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            output.append(digits[Int(group >> 18)])
            output.append(digits[Int(group >> 12 & 63)])
            output.append(digits[Int(group >> 6 & 63)])
            output.append(digits[Int(group & 63)])
            index += 3
        }
        let rest = bytes.count - index
        guard rest > 0 else { return }
        let group = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
        output.append(digits[Int(group >> 18)])
        output.append(digits[Int(group >> 12 & 63)])
        output.append(rest == 2 ? digits[Int(group >> 6 & 63)] : UInt8(ascii: "="))
        output.append(UInt8(ascii: "="))
    }

    /// The ids of the keys that sealed values of `json` name (none for values sealed before key ids).
    static func keyIDs(in json: [UInt8]) -> [SubjectKeys.KeyID] {
        guard json.contains(bytes: sealedMark), let members = try? json.withUnsafeBufferPointer({ try EnvelopeScan($0).dataMembers }) else { return [] }
        return members.compactMap { member in json[member.value.lowerBound] == UInt8(ascii: "{") ? sealedForm(json, at: member.value)?.keyID : nil }
    }

    /// `json` with every sealed personal field opened, or marked `{"erased":true}` when its key is
    /// gone. Unchanged when it holds nothing sealed.
    /// With `cachedOnly`, a key that would have to be read from the log throws
    /// `SubjectKeys.KeyNotCached` instead.
    public static func open(_ json: [UInt8], id: String, subject: String?, keys: SubjectKeys, cachedOnly: Bool = false) throws -> [UInt8] {
        guard json.contains(bytes: sealedMark) else { return json }
        let members: [EnvelopeScan.Member]
        do {
            members = try json.withUnsafeBufferPointer { try EnvelopeScan($0).dataMembers }
        } catch let malformed as EnvelopeScan.Malformed {
            throw EnvelopeError(.malformedJSON, "event \(id) is not a JSON envelope: \(malformed.reason)")
        }
        // Each sealed value is replaced, in the bytes, by the bytes it sealed: a parse and a write
        // of the whole envelope through Foundation cost far more than the opening itself.
        var output: [UInt8] = []
        var copied = 0
        for member in members where json[member.value.lowerBound] == UInt8(ascii: "{") {
            guard let form = sealedForm(json, at: member.value) else { continue }
            let key: SymmetricKey?
            if let keyID = form.keyID {
                key = try keys.openingKey(id: keyID, cachedOnly: cachedOnly)
            } else {
                // Keys from before key ids are never cached.
                if cachedOnly { throw SubjectKeys.KeyNotCached() }
                key = try subject.flatMap { try keys.legacyKey(for: $0) }
            }
            let sealed = form.sealed
            let opened: [UInt8]
            if let key {
                guard let combined = Data(base64Encoded: sealed),
                      let plain = try? AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: key, authenticating: Array((id + "/" + member.key).utf8)) else {
                    throw EnvelopeError(.invalidData, "event \(id): `data.\(member.key)` does not open with its subject's key")
                }
                opened = Array(plain)
            } else {
                opened = Array(#"{"erased":true}"#.utf8)
            }
            output += json[copied..<member.value.lowerBound]
            output += opened
            copied = member.value.upperBound
        }
        guard copied > 0 else { return json }
        output += json[copied...]
        return output
    }
}
