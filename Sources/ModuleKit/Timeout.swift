/// Runs `work`, and cancels it once `limit` has passed: a peer that does not answer (a mail
/// server, a core that stopped first) must not hold its caller for good.
public func withTimeout(_ limit: Duration, _ work: @escaping @Sendable () async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimedOut(limit: limit)
        }
        try await group.next()
        group.cancelAll()
    }
}

/// `withTimeout`'s work did not end within its limit.
public struct TimedOut: Error, CustomStringConvertible {
    public let limit: Duration
    public var description: String { "no answer within \(limit)" }
}
