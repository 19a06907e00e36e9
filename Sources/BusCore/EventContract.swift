import PluginAPI

/// The data of one event type at one version: a plain Codable struct, no logic, no storage.
///
/// A contract that replaces an older version conforms to `UpcastingContract`, so events stored
/// under the old version are read as the new one and never need rewriting.
public protocol EventContract: Codable, Sendable {
    static var eventType: EventType { get }
    static var dataVersion: Int { get }
    /// Top-level fields of `data` that hold personal data, each a `Personal` value: the log keeps
    /// them sealed with the subject's key, so that deleting the key erases them everywhere.
    static var personalFields: Set<String> { get }
}

extension EventContract {
    public static var personalFields: Set<String> { [] }
}

/// A newer version of a contract that knows how to read its predecessor.
public protocol UpcastingContract: EventContract {
    associatedtype Previous: EventContract
    init(upcasting previous: Previous)
}

/// A fact whose data say on which day it happened (a decision's `decidedOn`, a hold's `on`). That
/// day places it among the deadlines of the module that takes it: a deadline due before the day
/// has passed when the fact is applied, however late the fact reaches the bus.
public protocol DatedFact {
    var factDate: CalendarDate { get }
}
