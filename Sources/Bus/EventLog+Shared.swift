import Foundation
import Storage
import Synchronization

/// Several nodes appending to one PostgreSQL log (`[cluster]`): each node's head, feeds and live
/// feed must hold every node's events, in offset order. So a node publishes nothing straight
/// from its commits: under one lock it first reads back what others appended before its commit,
/// then its own; a follower thread reads what others append while this node appends nothing.
final class SharedTail: Sendable {
    /// Taken while events are read back and published, so that they go out in offset order.
    private let lock = Mutex(())
    private let stopped = Atomic(false)
    /// The log's erasure count last seen; nil before the first look.
    private let erasures = Mutex<Int64?>(nil)
    /// How often the follower looks for other nodes' events without being woken: a node's commit
    /// notifies the others (LISTEN/NOTIFY), and this is what is left when a notification is missed
    /// (the listening connection broken).
    static let interval: Duration = .seconds(1)
    /// The notification channel of the log's commits.
    static let channel = "wzt_log_appended"

    func publishing(_ body: () -> Void) {
        lock.withLock { _ in body() }
    }

    /// Calls `forget` when `count` differs from the count last seen (never on the first look),
    /// before another caller may see the new count: the writer must not go on to seal or store
    /// with keys the follower has seen erased but not yet forgotten.
    func erasures(_ count: Int64?, changed forget: () -> Void) {
        erasures.withLock { seen in
            if seen != nil && seen != count { forget() }
            seen = count
        }
    }

    var isStopped: Bool { stopped.load(ordering: .relaxed) }
    func stop() { stopped.store(true, ordering: .relaxed) }
}

extension EventLog {
    /// On the writer, after a commit: the events others appended up to `previousHead`, then `own`.
    func publishCommitted(_ own: [StoredEvent], after previousHead: Int64) {
        if previousHead > headOffset { readBack(through: previousHead) }
        let head = headOffset
        let fresh = own.filter { $0.offset > head }
        if !fresh.isEmpty { publish(fresh) }
    }

    /// Publishes the log's events beyond the head, up to `last` (all of them when nil), read back.
    /// A failed read is logged and left to the follower's next look.
    func readBack(through last: Int64? = nil) {
        while true {
            let after = headOffset
            let events: [StoredEvent]
            do {
                events = try eventsNow(after: after, limit: 1000).filter { $0.offset <= last ?? .max }
            } catch {
                logger.error("reading other nodes' events failed", metadata: ["bus.error": "\(error)"])
                return
            }
            guard !events.isEmpty else { return }
            publish(events)
            if events.count < 1000 { return }
        }
    }

    /// The follower thread: whenever another node's commit notifies it (and at least every
    /// `SharedTail.interval`), whether other nodes appended (then what) and whether one of them
    /// erased keys.
    func followOtherNodes() {
        guard let shared else { return }
        while !shared.isStopped && !isClosed {
            if let wakeups = store as? any SQLWakeups {
                _ = wakeups.waitForNotification(on: SharedTail.channel, timeout: SharedTail.interval)
            } else {
                Thread.sleep(forTimeInterval: Double(SharedTail.interval.components.seconds))
            }
            if shared.isStopped || isClosed { return }
            do {
                // One question per look, so that an idle node costs the server and itself little.
                let (last, erasures) = try store.readNow { db in
                    let row = try SQLRow.fetchOne(db, sql: #"""
                        SELECT (SELECT COALESCE(MAX("offset"), 0) FROM events) AS head, (SELECT erasures FROM sealing_key_ids) AS erasures
                        """#)
                    return (try row?["head"] as Int64?, try row?["erasures"] as Int64?)
                }
                shared.erasures(erasures, changed: keys.forgetAll)
                if let last, last > headOffset { shared.publishing { readBack() } }
            } catch {
                logger.error("reading what other nodes appended failed", metadata: ["bus.error": "\(error)"])
            }
        }
    }
}
