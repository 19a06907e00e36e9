import Foundation
import GRDB
import Storage
import Synchronization
import TestSupport
import Testing
@testable import Bus

struct EventLogTests {
    @Test(arguments: TestLog.both)
    func offsetsStartAtOneAndFollowAppendOrder(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        let first = try await log.append([Samples.note("a"), Samples.note("b")])
        let second = try await log.append([Samples.note("c")])
        #expect(first.map(\.offset) == [1, 2])
        #expect(second.map(\.offset) == [3])
        #expect(log.headOffset == 3)
        #expect(first.allSatisfy { !$0.duplicate })
    }

    /// Pages for operators: newest first, at most `limit`, a type looked for at most `window`
    /// offsets back (so a rare type costs no more than a common one), a subject over the whole
    /// log, a time range on the log's own clock.
    @Test(arguments: TestLog.both)
    func pagesGoBackwardsInBoundedSteps(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        _ = try await log.append((1...120).map { Samples.note("n\($0)", subject: "case-a") })
        _ = try await log.append([Samples.note("last", subject: "case-b")])
        let newest = try await log.page(before: 122, filter: EventFilter(), limit: 50)
        #expect(newest.events.map(\.event.offset) == Array((72...121).reversed()))
        #expect(newest.searchedFrom == 72)
        let older = try await log.page(before: newest.searchedFrom, filter: EventFilter(), limit: 50)
        #expect(older.events.first?.event.offset == 71 && older.events.count == 50)

        let none = try await log.page(before: 122, filter: EventFilter(typePrefix: "be.wzt.nothing."), limit: 50, window: 30)
        #expect(none.events.isEmpty && none.searchedFrom == 92)
        let notes = try await log.page(before: 122, filter: EventFilter(typePrefix: String(NoteAdded.eventType.rawValue.dropLast(3))), limit: 5)
        #expect(notes.events.count == 5)

        let caseA = try await log.page(before: 122, filter: EventFilter(subject: "case-a"), limit: 200, window: 10)
        #expect(caseA.events.count == 120 && caseA.searchedFrom == 1)
        let caseB = try await log.page(before: 122, filter: EventFilter(subject: "case-b"))
        #expect(caseB.events.map(\.event.offset) == [121])

        #expect(try await log.page(before: 122, filter: EventFilter(recordedFrom: "2999-01-01T00:00:00.000Z")).events.isEmpty)
        #expect(try await log.page(before: 122, filter: EventFilter(recordedBefore: "2999-01-01T00:00:00.000Z")).events.count == 50)
        #expect(try await log.page(before: 122, filter: EventFilter(recordedBefore: "2000-01-01T00:00:00.000Z")).events.isEmpty)
        // Any offset a URL can carry is a page, never an overflow.
        for before in [Int64.min, -1, 0, Int64.max] {
            #expect(try await log.page(before: before, filter: EventFilter()).events.isEmpty)
        }
    }

    @Test func writerUsesSynchronousFull() throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        #expect(try log.writerSynchronousMode() == 2)
    }

    @Test(arguments: TestLog.both)
    func duplicateIDReturnsTheFirstOffsetAndWritesNothing(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        let id = EventID.make()
        let original = try await log.append([Samples.note("first", id: id)])
        _ = try await log.append([Samples.note("other")])
        // Again later, and twice within one batch.
        let again = try await log.append([Samples.note("changed", id: id), Samples.note("new", id: "01ARZ3NDEKTSV4RRFFQ69G5FAV"), Samples.note("new", id: "01ARZ3NDEKTSV4RRFFQ69G5FAV")])
        #expect(again[0] == Appended(id: id, offset: original[0].offset, duplicate: true))
        #expect(again[1].duplicate == false)
        #expect(again[2] == Appended(id: again[1].id, offset: again[1].offset, duplicate: true))
        #expect(try log.count() == 3)
        // The stored event is the first one, not the changed copy.
        let stored = try await #require(try log.event(at: original[0].offset))
        #expect(try Samples.decoder.data(NoteAdded.self, of: stored.json).text == "first")
    }

    /// An id in another letter case is the same id: it was once stored twice, both acked.
    @Test(arguments: TestLog.both)
    func anIDInAnotherLetterCaseIsADuplicate(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        let id = EventID.make()
        let first = try await log.append([Samples.note("first", id: id)])
        let again = try await log.append([Samples.note("upper", id: id.uppercased()), Samples.note("ulid", id: "01arz3ndektsv4rrffq69g5fav"),
                                          Samples.note("ULID", id: "01ARZ3NDEKTSV4RRFFQ69G5FAV")])
        #expect(again[0] == Appended(id: id, offset: first[0].offset, duplicate: true))
        #expect(again[1].id == "01ARZ3NDEKTSV4RRFFQ69G5FAV" && !again[1].duplicate)
        #expect(again[2] == Appended(id: again[1].id, offset: again[1].offset, duplicate: true))
        #expect(try log.count() == 2)
        let stored = try await #require(try log.event(at: again[1].offset))
        #expect(stored.id == "01ARZ3NDEKTSV4RRFFQ69G5FAV" && String(decoding: stored.json, as: UTF8.self).contains("01ARZ3NDEKTSV4RRFFQ69G5FAV"))
    }

    @Test(arguments: TestLog.both)
    func concurrentAppendsShareCommits(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        let appenders = 64, eventsEach = 20
        let results = try await withThrowingTaskGroup(of: [Appended].self) { group in
            for appender in 0..<appenders {
                group.addTask {
                    var mine: [Appended] = []
                    for index in 0..<eventsEach { mine += try await log.append([Samples.note("\(appender)-\(index)")]) }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let offsets = results.map(\.offset).sorted()
        #expect(offsets == Array(1...Int64(appenders * eventsEach)))
        let statistics = log.groupCommitStatistics
        #expect(statistics.events == appenders * eventsEach)
        // 1,280 single-event appends from 64 tasks: many must have waited and joined a group.
        #expect(statistics.commits < appenders * eventsEach)
        #expect(statistics.largestGroup > 1)
    }

    @Test(arguments: TestLog.both)
    func replayFromAnOffsetFiltersByType(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        for index in 0..<10 { _ = try await log.append([Samples.note("n\(index)")]) }
        let tail = try await log.events(after: 6)
        #expect(tail.map(\.offset) == [7, 8, 9, 10])
        #expect(try await log.events(after: 0, limit: 3).map(\.offset) == [1, 2, 3])
        let notes = try EventPattern("be.wzt.sample.*")
        #expect(try await log.events(after: 0, matching: [notes]).count == 10)
        #expect(try await log.events(after: 0, matching: [try EventPattern("be.wzt.intake.*")]).isEmpty)
        #expect(try await log.count(after: 4, matching: [notes]) == 6)
    }

    @Test(arguments: TestLog.both)
    func eventsSurviveReopening(place: TestLog) async throws {
        var log = try await place.open()
        let appended = try await log.append([Samples.note("kept")])
        try await log.saveCursor("sample", offset: 1)
        log.close()
        log = try await place.open()
        defer { log.close() }
        #expect(log.headOffset == 1)
        #expect(try log.offset(ofEventID: appended[0].id) == 1)
        #expect(try await log.cursor("sample") == 1)
        #expect(try await log.append([Samples.note("next")])[0].offset == 2)
    }

    @Test(arguments: TestLog.both)
    func cursorsNeverMoveBack(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        try await log.saveCursor("m", offset: 5)
        try await log.saveCursor("m", offset: 3)
        #expect(try await log.cursor("m") == 5)
        #expect(try await log.cursor("never-saved") == 0)
    }

    @Test(arguments: TestLog.both)
    func appendsAfterCloseAreRefusedAsUnavailable(place: TestLog) async throws {
        let log = try await place.open()
        log.close()
        let error = await #expect(throws: EnvelopeError.self) { try await log.append([Samples.note()]) }
        #expect(error?.code == .unavailable)
    }

    @Test(arguments: TestLog.both)
    func waitForHeadWakesOnAppend(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        async let woke: Void = log.waitForHead(beyond: 0)
        try await Task.sleep(for: .milliseconds(50))
        _ = try await log.append([Samples.note()])
        await woke
        #expect(log.headOffset == 1)
    }

    /// A subscriber of one type sleeps through commits of others, also those that came between
    /// its last read and its wait, and wakes for its own type. (A wait that wrongly sleeps would
    /// hang: hence the time limit.)
    @Test(.timeLimit(.minutes(1)), arguments: TestLog.both)
    func waitForHeadMatchingSleepsThroughOtherTypes(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        let counted = try Samples.decoder.decode(EnvelopeEncoder.envelope(NotesCounted(count: 1), source: "/test", subject: "case-1"))
        let counts = [EventPattern(exactly: NotesCounted.eventType)]
        _ = try await log.append([Samples.note("before the wait")])

        // Beyond 0 there is only a note: the head has passed, but this waiter does not return.
        let woke = Atomic(false)
        let waiter = Task {
            await log.waitForHead(beyond: 0, matching: counts)
            woke.store(true, ordering: .relaxed)
        }
        _ = try await log.append([Samples.note("during the wait")])
        try await Task.sleep(for: .milliseconds(200))
        let wokeForNotes = woke.load(ordering: .relaxed)
        #expect(!wokeForNotes)
        // A waiter for notes, or for every type, returns at once.
        await log.waitForHead(beyond: 1, matching: [EventPattern(exactly: NoteAdded.eventType)])
        await log.waitForHead(beyond: 1)

        _ = try await log.append([Samples.note("in the same commit"), counted])
        await waiter.value
        #expect(log.headOffset == 4)
        // Once a commit of its type lies beyond its offset, it returns at once.
        await log.waitForHead(beyond: 1, matching: counts)
    }

    /// v5 rebuilds `sealing_keys` without AUTOINCREMENT: the keys stay, and the highest id the
    /// old table had handed out (kept by SQLite even after erasure) stays the floor for new ids.
    @Test func keysKeepTheirIDsAndTheIDFloorAcrossTheV5Migration() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("log.sqlite")
        let key = Data(repeating: 7, count: 32)
        let old = try DatabaseQueue(path: path)
        try SQLiteStore.migrator(LogSchema.sqlite).migrate(old, upTo: "v4 sealing keys")
        try old.write { db in
            try db.execute(sql: "INSERT INTO sealing_keys (subject, key) VALUES ('case-1', ?), ('case-2', ?), ('case-3', ?)", arguments: [key, key, key])
            try db.execute(sql: "DELETE FROM sealing_keys WHERE subject = 'case-3'")
        }
        try old.close()

        let log = try EventLog(path: path)
        defer { log.close() }
        let (keys, highestErased, schema) = try DatabaseQueue(path: path).read { db in
            (try Row.fetchAll(db, sql: "SELECT id, subject FROM sealing_keys ORDER BY id").map { "\($0["id"] as Int64) \($0["subject"] as String)" },
             try Int64.fetchOne(db, sql: "SELECT highest_erased FROM sealing_key_ids"),
             try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'sealing_keys'") ?? "")
        }
        #expect(keys == ["1 case-1", "2 case-2"])
        #expect(highestErased == 3)
        #expect(!schema.contains("AUTOINCREMENT"))
        #expect(try log.keys.openingKey(id: 2) != nil)
        #expect(try log.keys.openingKey(id: 3) == nil)
    }

    @Test func unwritableDirectoryGivesAClearError() {
        let error = #expect(throws: (any Error).self) { try EventLog(path: "/proc/wzt-no-such-dir/log.sqlite") }
        #expect("\(error!)".contains("/proc/wzt-no-such-dir/log.sqlite"))
    }
}
