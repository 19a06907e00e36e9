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
