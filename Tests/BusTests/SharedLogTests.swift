import Foundation
import IntakeContracts
import PluginAPI
import Storage
import TestSupport
import Synchronization
import Testing
@testable import Bus

/// Two nodes on one PostgreSQL log (`[cluster]`), as two `EventLog`s on one schema: what each
/// appends reaches the other's head and observers in offset order, their sealing keys never
/// share an id, an erasure on one is honoured by the other, and the leases of `module_owners`
/// hand each module to one node at a time with a fencing token that only grows.
@Suite(.serialized)
struct SharedLogTests: SealedRequests {
    /// The INSZ of `event` as `log` opens it; nil when its key is gone (erased).
    func opened(_ event: StoredEvent, by log: EventLog) throws -> INSZ? {
        guard case .value(let value) = try decoder.data(ScreeningRequested.self, of: Sealing.open(event.json, id: event.id, subject: event.subject, keys: log.keys)).insz else {
            return nil
        }
        return value
    }

    @Test func whatOneNodeAppendsReachesTheOthersHeadAndObserversInOrder() async throws {
        let place = TestLog(.postgres)
        let (a, b) = (try await place.open(sharedWithOtherNodes: true), try await place.open(sharedWithOtherNodes: true))
        defer { a.close(); b.close() }
        let seen = Seen()
        b.onCommit { events in seen.add(events.map(\.offset)) }
        // Both append at once, in many small commits.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (log, prefix) in [(a, "a"), (b, "b")] {
                group.addTask { for n in 0..<40 { _ = try await log.append([try request("\(prefix)-\(n)")]) } }
            }
            try await group.waitForAll()
        }
        let offsets = try await a.events(after: 0, limit: 1000).map(\.offset)
        #expect(offsets.count == 80)
        // b's follower looks every few milliseconds.
        let deadline = ContinuousClock.now + .seconds(5)
        while seen.offsets.count < 80, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(seen.offsets == offsets, "b's observers got every event once, in offset order")
        #expect(b.headOffset == offsets.last)
    }

    @Test func twoNodesNeverShareAKeyIdAndOpenEachOthersFields() async throws {
        let place = TestLog(.postgres)
        let (a, b) = (try await place.open(sharedWithOtherNodes: true), try await place.open(sharedWithOtherNodes: true))
        defer { a.close(); b.close() }
        // Before key ids came from incarnations, both started at the same id and one node's
        // commits failed on sealing_keys' primary key.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (log, prefix) in [(a, "a"), (b, "b")] {
                group.addTask { _ = try await log.append(try (0..<50).map { try request("\(prefix)-\($0)") }) }
            }
            try await group.waitForAll()
        }
        let events = try await a.events(after: 0, limit: 1000)
        #expect(events.count == 100)
        for event in events {
            #expect(try opened(event, by: a) == insz)
            #expect(try opened(event, by: b) == insz)
        }
    }

    @Test func anErasureOnOneNodeIsHonouredByTheOther() async throws {
        let place = TestLog(.postgres)
        let (a, b) = (try await place.open(sharedWithOtherNodes: true), try await place.open(sharedWithOtherNodes: true))
        defer { a.close(); b.close() }
        // b seals case-1 with a key it keeps in memory, and has opened its event once.
        _ = try await b.append([try request("case-1")])
        let first = try #require(try await b.events(after: 0).first)
        #expect(try opened(first, by: b) == insz)
        #expect(try await a.erase(subject: "case-1", reason: "test"))
        // b's next event of case-1 is sealed with a new key: sealed with the erased one it would be
        // born unreadable.
        _ = try await b.append([try request("case-1")])
        let second = try #require(try await b.events(after: first.offset).first)
        #expect(try opened(second, by: a) == insz)
        // And b no longer opens the erased event from its memory once its follower saw the erasure.
        let deadline = ContinuousClock.now + .seconds(5)
        while try opened(first, by: b) != nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try opened(first, by: b) == nil)
    }

    @Test func aLeaseGoesToOneNodeAtATimeWithAGrowingToken() async throws {
        let log = try await TestLog(.postgres).open(sharedWithOtherNodes: true)
        defer { log.close() }
        let leases = log.leases
        let lease = Duration.milliseconds(300)
        let first = try #require(try await leases.takeOwnership(of: "intake", node: "core-a", lease: lease, pinned: false))
        #expect(try await leases.takeOwnership(of: "intake", node: "core-b", lease: lease, pinned: false) == nil, "held by core-a")
        #expect(try await leases.renewOwnership(of: "intake", token: first, lease: lease, pinned: false))
        try await Task.sleep(for: .milliseconds(400))
        let second = try #require(try await leases.takeOwnership(of: "intake", node: "core-b", lease: lease, pinned: false), "core-a's lease ran out")
        #expect(second > first)
        #expect(try await !leases.renewOwnership(of: "intake", token: first, lease: lease, pinned: false), "core-a's token is stale")
        try await leases.releaseOwnership(of: "intake", token: second)
        let third = try #require(try await leases.takeOwnership(of: "intake", node: "core-a", lease: lease, pinned: false), "released: taken at once")
        #expect(third > second)
        // A node restarted under its name takes its module back at once, with a new token.
        let fourth = try #require(try await leases.takeOwnership(of: "intake", node: "core-a", lease: lease, pinned: false))
        #expect(fourth > third)
        // A row deleted by hand does not start the tokens again: a stale holder stays fenced.
        try await leases.store.write { db in try db.execute(sql: "DELETE FROM module_owners WHERE module = 'intake'") }
        let fifth = try #require(try await leases.takeOwnership(of: "intake", node: "core-b", lease: lease, pinned: false))
        #expect(fifth > fourth)
        // A pinned lease never runs out.
        _ = try #require(try await leases.takeOwnership(of: "notifications", node: "core-a", lease: lease, pinned: true))
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await leases.takeOwnership(of: "notifications", node: "core-b", lease: lease, pinned: false) == nil)
        let owners = try await leases.owners()
        #expect(owners.map(\.module) == ["intake", "notifications"])
        #expect(owners.last?.secondsLeft == nil && owners.last?.node == "core-a")
    }
}

private final class Seen: Sendable {
    private let box = Mutex<[Int64]>([])
    var offsets: [Int64] { box.withLock { $0 } }
    func add(_ offsets: [Int64]) { box.withLock { $0 += offsets } }
}
