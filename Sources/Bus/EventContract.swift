/// The data of one event type at one version: a plain Codable struct, no logic, no storage.
///
/// A contract that replaces an older version conforms to `UpcastingContract`, so events stored
/// under the old version are read as the new one and never need rewriting.
public protocol EventContract: Codable, Sendable {
    static var eventType: EventType { get }
    static var dataVersion: Int { get }
}

/// A newer version of a contract that knows how to read its predecessor.
public protocol UpcastingContract: EventContract {
    associatedtype Previous: EventContract
    init(upcasting previous: Previous)
}
