import Crypto
import Foundation
import GRDB
import IntakeContracts
import Logging
import PluginAPI
import Storage
import TestSupport
import Testing
@testable import Bus

/// How the log keeps the keys that seal personal fields, in memory and in its file: whatever
/// happens to a key on the way (a cache full, a commit failing), nothing sealed becomes
/// unreadable or escapes erasure.
struct SealingKeyTests: SealedRequests {
    func opened(_ log: EventLog) async throws -> [String: [Personal<INSZ>]] {
        try await log.events(after: 0, limit: 100).reduce(into: [:]) { result, event in
            let data = try decoder.data(ScreeningRequested.self, of: Sealing.open(event.json, id: event.id, subject: event.subject, keys: log.keys))
            result[data.caseID, default: []].append(data.insz)
        }
    }

    /// A sealed value opens with its key, in its event and field only: the event id and the
    /// field name are authenticated with it, so a value copied into another event is refused.
    @Test(arguments: TestLog.both)
    func aSealedValueOpensOnlyWhereItWasSealed(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        _ = try await log.append([try request("case-1"), try request("case-1")])
        let events = try await log.events(after: 0)
        let first = String(decoding: events[0].json, as: UTF8.self)
        #expect(!first.contains("85073003328"))
        #expect(try await opened(log)["case-1"] == [.value(insz), .value(insz)])

        // The second event with the first one's sealed INSZ, under the same key.
        func sealedINSZ(_ json: String) throws -> String {
            let start = try #require(json.range(of: #""insz":{"sealed":""#)).upperBound
            return String(json[start...].prefix { $0 != "\"" })
        }
        let second = String(decoding: events[1].json, as: UTF8.self)
        let moved = second.replacingOccurrences(of: try sealedINSZ(second), with: try sealedINSZ(first))
        #expect(moved != second)
        #expect(throws: EnvelopeError.self) { try Sealing.open(Array(moved.utf8), id: events[1].id, subject: "case-1", keys: log.keys) }
    }

    /// A batch large enough to be sealed on several threads: every value sealed and opening
    /// to its own case's INSZ, in the order appended, and each case's events under one key.
    @Test func aLargeBatchIsSealedInOrderWithOneKeyPerCase() async throws {
        let log = try await TestLog(.sqlite).open()
        defer { log.close() }
        let inszs = try ["85073003328", "90020199704", "75121512319"].map { try INSZ($0) }
        let batch = try (0..<600).map { index in
            try decoder.decode(EnvelopeEncoder.envelope(
                ScreeningRequested(caseID: "case-\(index % 40)", insz: inszs[index % 3], region: "flanders", requestedBy: .counsellor,
                                   requestedOn: CalendarDate("2026-03-02")!, office: "Gent"),
                source: "/agency/vdab", subject: "case-\(index % 40)"))
        }
        #expect(batch.count >= 2 * SubjectKeys.sealingsPerThread)
        _ = try await log.append(batch)
        let events = try await log.events(after: 0, limit: 1000)
        #expect(events.map(\.id) == batch.map(\.id))
        var keyOfCase: [String: Int] = [:]
        for (index, event) in events.enumerated() {
            let json = String(decoding: event.json, as: UTF8.self)
            #expect(!inszs.contains { json.contains($0.digits) }, "event \(index) holds an INSZ in the clear")
            let data = try decoder.data(ScreeningRequested.self, of: Sealing.open(event.json, id: event.id, subject: event.subject, keys: log.keys))
            #expect(data.insz == .value(inszs[index % 3]), "event \(index)")
            let keyID = try #require(json.firstMatch(of: /"key":(\d+)/).flatMap { Int($0.1) })
            #expect(keyOfCase[data.caseID, default: keyID] == keyID, "\(data.caseID) sealed with two keys")
            keyOfCase[data.caseID] = keyID
        }
        #expect(Set(keyOfCase.values).count == 40)
    }

    /// The sealed form's base64 is Foundation's, for every length of remainder.
    @Test func base64IsFoundations() {
        for count in 0..<70 {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255) }
            var written: [UInt8] = []
            Sealing.appendBase64(bytes, to: &written)
            #expect(written == Array(Data(bytes).base64EncodedData()), "\(count) bytes")
        }
    }

    /// Erasing a subject deletes its keys: its values read as erased, after a restart too, while
    /// other subjects' values and every event stay; its next event gets a key of a new id.
    /// After a restart no key is in memory: a module's delivery once read each one with a blocking
    /// read on the cooperative pool. Now that read happens on a thread of its own, and the event
    /// arrives opened as before.
    @Test(arguments: TestLog.both)
    func aKeyThatIsNotInMemoryIsReadOffThePool(place: TestLog) async throws {
        var log = try await place.open()
        _ = try await log.append([try request("case-1")])
        log.close()
        log = try await place.open()
        defer { log.close() }
        let event = try #require(try await log.events(after: 0, limit: 1).first)
        let projection = Projection(needs: [Need(ScreeningRequested.self, for: "testing")], decoder: decoder, keys: log.keys)
        #expect(throws: SubjectKeys.KeyNotCached.self) { try projection.apply(event, cachedKeysOnly: true) }
        let received = Received()
        try await ProjectingSubscriber(received, projection: projection).deliver(event)
        let delivered = try #require(received.events.first)
        #expect(try decoder.data(ScreeningRequested.self, of: delivered.json).insz == .value(insz))
        // Now in memory: the next delivery does not leave the pool.
        _ = try projection.apply(event, cachedKeysOnly: true)
    }

    /// After a restart a backlog names a key per case, none in memory: they are read together,
    /// and an erased case's values still come out erased, every event in its place.
    @Test(arguments: TestLog.both)
    func aBacklogAfterARestartOpensWithItsKeysReadTogether(place: TestLog) async throws {
        var log = try await place.open()
        let cases = (0..<300).map { "case-\($0 % 120)" }
        _ = try await log.append(try cases.map(request))
        for erased in ["case-7", "case-50", "case-119"] { _ = try await log.erase(subject: erased, reason: "request of the person") }
        log.close()
        log = try await place.open()
        defer { log.close() }
        let events = try await log.events(after: 0, limit: 1000)
        let projection = Projection(needs: [Need(ScreeningRequested.self, for: "testing")], decoder: decoder, keys: log.keys)
        let received = Received()
        let delivery = await ProjectingSubscriber(received, projection: projection).deliver(batch: events[...])
        #expect(delivery.failure == nil && delivery.applied == 300)
        let opened = try received.events.map { try decoder.data(ScreeningRequested.self, of: $0.json) }
        #expect(opened.map(\.caseID) == cases)
        for data in opened {
            let erased = ["case-7", "case-50", "case-119"].contains(data.caseID)
            #expect(data.insz == (erased ? .erased : .value(insz)), "\(data.caseID)")
        }
    }

    final class Received: Subscriber, @unchecked Sendable {
        private let lock = NSLock()
        private var delivered: [StoredEvent] = []
        var events: [StoredEvent] { lock.withLock { delivered } }
        let subscriptionName = "received"
        let patterns: [EventPattern] = [.all]
        func deliver(_ event: StoredEvent) async throws { lock.withLock { delivered.append(event) } }
    }

    @Test(arguments: TestLog.both)
    func erasureDeletesTheSubjectsKeysOnly(place: TestLog) async throws {
        var log = try await place.open()
        _ = try await log.append([try request("case-1"), try request("case-2"), try request("case-1")])
        #expect(try await log.erase(subject: "case-1", reason: "request of the person"))
        #expect(try await !log.erase(subject: "case-3", reason: "never seen"))
        log.close()

        log = try await place.open()
        defer { log.close() }
        #expect(try await opened(log) == ["case-1": [.erased, .erased], "case-2": [.value(insz)]])
        #expect(try log.keys.erased().map(\.subject) == ["case-1", "case-3"])
        _ = try await log.append([try request("case-1")])
        let after = try await opened(log)
        #expect(after["case-1"] == [.erased, .erased, .value(insz)])
        #expect(try log.count() == 4)
    }

    /// The log keeps only so many keys in memory; what it forgets it reads back from the file, or
    /// replaces with a new key.
    @Test func keyCachesStayBoundedWithoutLosingAValue() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(store: try SQLiteStore(path: directory.file("log.sqlite"), migrations: LogSchema.sqlite), sealsPersonalFields: true,
                               logger: Logger(label: "test"), keyCacheLimit: 4)
        defer { log.close() }
        for number in 0..<12 { _ = try await log.append([try request("case-\(number)")]) }
        // case-0's key is durable and was forgotten to make room: its next event gets a new key.
        _ = try await log.append([try request("case-0")])
        let keysOfCase0 = try await DatabaseQueue(path: log.location).read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sealing_keys WHERE subject = 'case-0'")
        }
        #expect(keysOfCase0 == 2)

        // Opening reads the keys it no longer holds back from the file.
        let before = try await opened(log)
        #expect(before.count == 12 && before.values.allSatisfy { $0.allSatisfy { $0 == .value(insz) } })
        #expect(before["case-0"]?.count == 2)

        #expect(try await log.erase(subject: "case-0", reason: "request of the person"))
        let after = try await opened(log)
        #expect(after["case-0"] == [.erased, .erased], "both of case-0's keys are erased")
        #expect(after.filter { $0.key != "case-0" }.values.allSatisfy { $0 == [.value(insz)] })
    }

    /// A commit that fails takes the keys it inserted with it: the case's next event, sealed with
    /// the same key, stores it (or that event's INSZ would be unreadable from the start).
    @Test func aKeyLostWithAFailedCommitIsStoredWithTheNextEvent() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let refused = try request("case-1")
        let database = try DatabaseQueue(path: log.location)
        try await database.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.id = '\(refused.id)' BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        await #expect(throws: EnvelopeError.self) { try await log.append([refused]) }
        try await database.write { db in try db.execute(sql: "DROP TRIGGER refuse") }

        _ = try await log.append([try request("case-1")])
        let keys = try await database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sealing_keys") }
        #expect(keys == 1)
        #expect(try await opened(log) == ["case-1": [.value(insz)]])
    }

    /// A commit whose answer was lost (the connection cut after the server committed) leaves its
    /// new keys marked as not stored, so the next commit inserts them again: that must change
    /// nothing rather than fail on the key's id, as it failed every later commit of the subject.
    @Test(arguments: TestLog.both)
    func aKeyStoredTwiceIsStoredOnce(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        let key = SubjectKeys.SealingKey(id: 4_242, key: SymmetricKey(size: .bits256), subject: "case-1")
        for _ in 0..<2 {
            try log.store.writeNow { db in try log.keys.insert([key][...], db) }
        }
        #expect(try log.store.readNow { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sealing_keys WHERE id = 4242") } == 1)
    }
}
