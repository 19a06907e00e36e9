import Bus
import Storage

/// A domain module: it owns its tables and its contracts, and talks to other modules only
/// through events on the bus.
///
/// The host delivers every event that matches one of its `needs` to `handle`, inside one
/// transaction of the module's own database that also records the event in the inbox (so a
/// redelivery is a no-op) and holds the events the module publishes (its outbox). Whether the
/// module runs in the core process or in another one is decided by configuration, not here.
public protocol Module: Sendable {
    /// Stable and unique: names the database file, the cursor and the log label.
    var name: String { get }
    /// The event types this module publishes.
    var contracts: [any EventContract.Type] { get }
    /// The event types this module handles, why (each purpose must be granted to the module in
    /// the deployment's config), and which fields of their data it reads: the bus hands it no more.
    var needs: [Need] { get }
    /// Adds this module's schema steps (an append-only timeline) to its database's migrator.
    func registerMigrations(_ migrator: inout SQLMigrations)
    /// Applies one event. Throwing rolls the transaction back and asks for a retry.
    func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws
    /// Called once before the first delivery.
    func start(_ context: ModuleContext) async throws
    /// Work the module does beside event handling for as long as it is hosted (delivering to the
    /// outside world, say); cancelled on shutdown. Runs after `start`, alongside deliveries.
    func run(_ context: ModuleContext) async throws
    /// Called once after the last delivery, on shutdown.
    func stop() async
    /// The documents this module offers to caseworkers, read from its own tables.
    var views: [ReadView] { get }
    /// Removes what the module keeps of `subject`'s personal data (right to erasure), in the
    /// transaction that records `SubjectErased` in its inbox. The log has already made the
    /// subject's personal fields unreadable; a replay hands the module `.erased` for them.
    func erase(subject: String, _ transaction: ModuleTransaction) throws
    /// What the module keeps about `subject` beyond its `views`, table by table, for the person's
    /// right of access (`wzt privacy export`).
    func records(about subject: String, _ db: any SQLDatabase) throws -> [String: [SQLRow]]
    /// Rules about the module's state that hold after every event it handles.
    var invariants: [Invariant] { get }
    /// Tables whose rows do not come from events (files stored beside them, say): a rebuild from
    /// the log copies them from the old database first.
    var tablesKeptOnRebuild: [String] { get }
    /// The events its timers publish; `ModuleTransaction.schedule` refuses any other. A rebuild
    /// marks a timer fired where the live module fired it, and only these events tell where.
    var timerEvents: [any EventContract.Type] { get }
}

extension Module {
    /// The event types this module handles.
    public var subscriptions: [EventPattern] { needs.map(\.pattern) }
    /// The purposes this module's needs name, each once.
    public var purposes: Set<Purpose> { Set(needs.map(\.purpose)) }
    public func start(_ context: ModuleContext) async throws {}
    public func run(_ context: ModuleContext) async throws {}
    public func stop() async {}
    public var views: [ReadView] { [] }
    public func erase(subject: String, _ transaction: ModuleTransaction) throws {}
    public func records(about subject: String, _ db: any SQLDatabase) throws -> [String: [SQLRow]] { [:] }
    public var invariants: [Invariant] { [] }
    public var tablesKeptOnRebuild: [String] { [] }
    public var timerEvents: [any EventContract.Type] { [] }

    var timerEventTypes: Set<String> { Set(timerEvents.map { $0.eventType.rawValue }) }

    /// What the bus delivers: the module's needs, and `SubjectErased`, which every module gets.
    public var deliveredNeeds: [Need] { needs + [Need(SubjectErased.self, for: .erasure)] }
}
