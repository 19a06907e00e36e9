import Bus
import Foundation
import GRDB
import ModuleKit
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import Storage

/// A note someone added to a case: the event the sample module handles.
public struct NoteAdded: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.sample.note-added"
    public static let dataVersion = 1
    public var text: String
    public init(text: String) { self.text = text }
}

/// What the sample module publishes after each note: how many notes the case now has.
public struct NotesCounted: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.sample.notes-counted"
    public static let dataVersion = 1
    public var count: Int
    public init(count: Int) { self.count = count }
}

/// The smallest real module: keeps notes per case in its own table and publishes a count.
///
/// Notes whose text starts with `fail-always` make the handler throw every time; `fail-twice`
/// throws on the first two deliveries; `sleep-MS` blocks the handler for MS milliseconds.
public final class SampleModule: Module {
    public let name: String
    public let contracts: [any EventContract.Type] = [NoteAdded.self, NotesCounted.self]
    public let needs = [Need(NoteAdded.self, for: "testing")]
    /// Deliveries per event id, including failed ones: kept in memory because a failed
    /// transaction leaves no trace in the module's tables.
    public let attempts = NIOLockedValueBox<[String: Int]>([:])

    public init(name: String = "sample") { self.name = name }

    public func registerMigrations(_ migrator: inout SQLMigrations) {
        migrator.registerMigration("v1 notes") { db in
            try db.execute(sql: "CREATE TABLE note (event_id TEXT PRIMARY KEY, subject TEXT NOT NULL, text TEXT NOT NULL)")
        }
    }

    public func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws {
        let note = try event.data(as: NoteAdded.self)
        let attempt = attempts.withLockedValue { $0[event.id, default: 0] += 1; return $0[event.id]! }
        if note.text.hasPrefix("fail-always") { throw SampleFailure(attempt: attempt) }
        if note.text.hasPrefix("fail-twice"), attempt <= 2 { throw SampleFailure(attempt: attempt) }
        if note.text.hasPrefix("sleep-"), let ms = Int(note.text.dropFirst("sleep-".count)) { usleep(UInt32(ms) * 1000) }
        let subject = event.subject ?? "none"
        try transaction.db.execute(sql: "INSERT INTO note (event_id, subject, text) VALUES (?, ?, ?)", arguments: [event.id, subject, note.text])
        let count = try Int.fetchOne(transaction.db, sql: "SELECT COUNT(*) FROM note WHERE subject = ?", arguments: [subject]) ?? 0
        try transaction.publish(NotesCounted(count: count), subject: subject)
    }

    /// The notes stored, in the order they were handled.
    public static func notes(in store: ModuleStore) throws -> [(eventID: String, subject: String, text: String)] {
        try store.database.readNow { db in
            try SQLRow.fetchAll(db, sql: "SELECT event_id, subject, text FROM note ORDER BY rowid").map { (try $0["event_id"], try $0["subject"], try $0["text"]) }
        }
    }
}

public struct SampleFailure: Error, CustomStringConvertible {
    public let attempt: Int
    public init(attempt: Int) { self.attempt = attempt }
    public var description: String { "sample handler refused the note (attempt \(attempt))" }
}
