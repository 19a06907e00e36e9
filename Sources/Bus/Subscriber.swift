import Synchronization

/// Something that receives events from the log: an in-process module, or the link to a remote one.
///
/// Delivery is at least once: after a crash the events since the last saved cursor come again,
/// so `deliver` must be idempotent (modules are, through their inbox).
public protocol Subscriber: Sendable {
    /// Names the cursor and dead letters; stable across restarts (the module name).
    var subscriptionName: String { get }
    var patterns: [EventPattern] { get }
    /// Handles one event; returns once its effect is durable. Throwing asks for a retry.
    func deliver(_ event: StoredEvent) async throws
    /// Handles `events` in order, as one unit where the subscriber can (one module transaction,
    /// one window of the link), and says how many of the first are durable. The event after
    /// those failed with `failure`; the ones after it were not tried, so that order holds.
    func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery
    /// Work on events that come next which needs no order (projecting, decoding), done while the
    /// batch before them is applied; `deliver(batch:)` takes it up when they come.
    func prepare(_ events: [StoredEvent]) async
    /// Whether `prepare` does anything: the dispatcher reads ahead only for those that do.
    var preparesAhead: Bool { get }
}

/// What became of a batch: its first `applied` events are durable; the next one failed with
/// `failure` (nil when all were applied).
public struct BatchDelivery: Sendable {
    public let applied: Int
    public let failure: (any Error)?

    public init(applied: Int, failure: (any Error)? = nil) {
        self.applied = applied
        self.failure = failure
    }
}

extension Subscriber {
    public func prepare(_ events: [StoredEvent]) async {}
    public var preparesAhead: Bool { false }

    /// One event at a time, for subscribers that have no cheaper way.
    public func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery {
        await deliverOneAtATime(events)
    }

    /// `events` through `deliver(_:)`, in order, until one fails.
    public func deliverOneAtATime(_ events: ArraySlice<StoredEvent>) async -> BatchDelivery {
        var applied = 0
        for event in events {
            do {
                try await deliver(event)
            } catch {
                return BatchDelivery(applied: applied, failure: error)
            }
            applied += 1
        }
        return BatchDelivery(applied: applied)
    }
}

/// How often a failing delivery is tried, and how long to wait between tries.
public struct RetryPolicy: Sendable, Hashable {
    /// Tries in all, the first one included.
    public var maxAttempts: Int
    /// Wait before try 2, 3, …; the last entry repeats.
    public var backoff: [Duration]

    public init(maxAttempts: Int = 5, backoff: [Duration] = [.zero, .milliseconds(100), .seconds(1), .seconds(5)]) {
        self.maxAttempts = max(1, maxAttempts)
        self.backoff = backoff.isEmpty ? [.zero] : backoff
    }

    func delay(afterAttempt attempt: Int) -> Duration {
        backoff[min(attempt - 1, backoff.count - 1)]
    }
}

/// What `prepare` made of events ahead of their delivery, by offset, for `deliver(batch:)` to take.
/// Holds at most a few batches: what is not taken is dropped when newer work comes.
public final class PreparedEvents<Prepared: Sendable>: Sendable {
    private let byOffset = Mutex<[Int64: (id: String, prepared: Prepared)]>([:])
    private static var limit: Int { 4_096 }

    public init() {}

    public func keep(_ prepared: [Prepared], for events: [StoredEvent]) {
        byOffset.withLock { byOffset in
            if byOffset.count + prepared.count > Self.limit { byOffset.removeAll(keepingCapacity: true) }
            for (event, prepared) in zip(events, prepared) { byOffset[event.offset] = (event.id, prepared) }
        }
    }

    /// What was prepared for the first of `events`, in order, up to the first that was not; and
    /// everything prepared for them or before them forgotten.
    public func take(_ events: some Collection<StoredEvent>) -> [Prepared] {
        byOffset.withLock { byOffset in
            guard !byOffset.isEmpty, let last = events.map(\.offset).max() else { return [] }
            var taken: [Prepared] = []
            var inOrder = true
            for event in events {
                let entry = byOffset.removeValue(forKey: event.offset)
                if inOrder, let entry, entry.id == event.id { taken.append(entry.prepared) } else { inOrder = false }
            }
            // Rebuilding the table for every batch cost more than the lookups: only when
            // something prepared before these is left over.
            if byOffset.keys.contains(where: { $0 <= last }) { byOffset = byOffset.filter { $0.key > last } }
            return taken
        }
    }
}
