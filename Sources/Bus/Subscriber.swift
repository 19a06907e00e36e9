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
