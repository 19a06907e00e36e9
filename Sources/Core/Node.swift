import Audit
import Bus
import BusTransport
import Foundation
import Logging
import ModuleKit
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import OperatorHTTP
import PostgresStorage
import Prometheus
import ServiceLifecycle
import UnixSignals
import ZeroMQ

/// One running wzt process: the event log, the ZeroMQ ingress, egress and replay sockets, and
/// the modules hosted here, as one service group that shuts down in order on SIGINT/SIGTERM:
/// first the ingress (in-flight appends finish and are acked), then the modules, then the log.
public final class Node: Sendable {
    public let configuration: NodeConfiguration
    public let log: EventLog
    public let decoder: EnvelopeDecoder
    public let ingress: Ingress
    public let egress: Egress
    public let replay: ReplayServer
    public let hosts: [ModuleHost]
    /// The HTTP side (health, readiness, metrics); nil when `http` is off.
    private let http: (any Service)?
    private let httpPort = BoundPort()
    public let ruleBook: RuleBook
    /// Plugin files that were not loaded, with the reason (also logged at start).
    public let refusedPlugins: [PluginLoader.Refusal]
    private let context: Context
    private let zap: ZAPHandler?
    /// The module link and the dispatchers of the modules hosted elsewhere; nil and none without such modules.
    public let link: ModuleLinkServer?
    private let remoteDispatchers: [Dispatcher]
    /// Deletes subjects' keys when erasure is requested (`Eraser`).
    private let eraser: Dispatcher
    /// Requests erasure when retention periods end; nil without `[privacy.retention]`.
    private let retention: RetentionWatch?
    private let logger: Logger
    /// In a cluster: this process's hold on its node name, so that a second process under the
    /// same name refuses to start instead of taking the modules back and forth with this one.
    private let nodeName: PostgresSchemaLock?
    /// In a cluster: the module hosts, the erasure and retention subscriptions, each run while
    /// this node holds its lease.
    private let ownedServices: [Owned]
    /// This node's hold on its data directory, for as long as it exists.
    private let directoryLock: DataDirectoryLock
    /// And on the PostgreSQL schemas it writes, when it keeps the log or modules there.
    private let schemaLocks: [PostgresSchemaLock]

    /// Opens the log and module stores and binds the sockets; nothing runs until `run`.
    /// `metrics` is the registry that `/metrics` shows; the process bootstraps swift-metrics with it.
    /// `remote` are the modules of `remoteModules`, hosted elsewhere: the core keeps their cursors and
    /// dead letters and delivers to them over the module link.
    public init(configuration: NodeConfiguration, modules: [any Module], remote: [any Module] = [],
                metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger) async throws {
        self.configuration = configuration
        self.logger = logger
        try configuration.checkExposure()
        try configuration.checkPurposes(of: modules + remote)
        try OpenFilesLimit.raise()
        directoryLock = try DataDirectoryLock(configuration.dataDirectory, holder: "wzt serve")
        // In a cluster every node writes the log, and leases (`Owned`) decide who runs a module:
        // the nodes hold the schemas together, which keeps out a node without `[cluster]`; what
        // must be one process is the node's name, which the leases go by.
        schemaLocks = try await configuration.lockPostgresSchemas(log: true, modules: modules.map(\.name), shared: configuration.cluster != nil,
                                                                  holder: configuration.cluster.map { "wzt serve node \($0.node)" } ?? "wzt serve", logger: logger)
        nodeName = try await configuration.lockNodeName(logger: logger)
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory + "/modules", withIntermediateDirectories: true)
        let (ruleBook, refused) = try PluginLoader.ruleBook(configuration, logger: logger)
        self.ruleBook = ruleBook
        refusedPlugins = refused
        let registry = try ContractRegistry(ModuleCatalog.contracts + modules.flatMap(\.contracts))
        decoder = EnvelopeDecoder(registry: registry, maxBytes: configuration.maxEventBytes)
        let log = try await configuration.openLog(logger: logger)
        self.log = log
        var hosts: [ModuleHost] = []
        for module in modules {
            let store = try await configuration.openStore(module, logger: logger)
            hosts.append(ModuleHost(module: module, store: store, log: log, decoder: EnvelopeDecoder(registry: registry, maxBytes: configuration.maxEventBytes),
                                    rules: ruleBook, dispatch: configuration.dispatch, logger: logger))
        }
        self.hosts = hosts
        eraser = Dispatcher(log: log, subscriber: Eraser(log: log, decoder: decoder), configuration: configuration.dispatch, logger: logger)
        retention = configuration.retentionDays.isEmpty ? nil
            : RetentionWatch(log: log, decoder: decoder, periods: configuration.retentionDays, dispatch: configuration.dispatch, logger: logger)
        let leases = configuration.cluster == nil ? nil : try await configuration.openLeases(logger: logger)
        let context = Context()
        self.context = context
        do {
            // Bound before the CURVE sockets, so that no handshake finds nobody to ask.
            zap = try configuration.transport.security.map { try ZAPHandler(context: context, security: $0, logger: logger) }
            if remote.isEmpty {
                link = nil
                remoteDispatchers = []
            } else {
                let link = try ModuleLinkServer(context: context, endpoint: configuration.transport.linkEndpoint, modules: Set(remote.map(\.name)), log: log,
                                                decoder: decoder, security: configuration.transport.security, logger: logger)
                self.link = link
                // Projected here, so that what a module may not read never leaves the core.
                var dispatch = configuration.dispatch
                dispatch.batchSize = ModuleLinkServer.windowSize
                remoteDispatchers = remote.map { [decoder, dispatch] module in
                    let subscriber = ProjectingSubscriber(link.subscriber(for: module.name, patterns: module.deliveredNeeds.map(\.pattern)),
                                                          projection: Projection(needs: module.deliveredNeeds, decoder: decoder, keys: log.keys))
                    return Dispatcher(log: log, subscriber: subscriber, configuration: dispatch, logger: logger)
                }
            }
            ingress = try Ingress(context: context, log: log, decoder: decoder.forPublishers, configuration: configuration.transport, logger: logger)
            let audit = try AuditLog(path: configuration.auditPath)
            if let endpoint = configuration.http {
                http = OperatorHTTP.service(host: endpoint.host, port: endpoint.port, log: log, decoder: decoder, publishers: configuration.httpPublishers, actors: configuration.transport.actors,
                                            users: configuration.httpUsers, audit: audit, hosts: hosts,
                                            remote: remote, link: link, dataDirectory: configuration.dataDirectory,
                                            asyncAPI: Self.asyncAPI(configuration, logger: logger), rules: ruleBook, refusedPlugins: refused.map(\.description),
                                            registry: metrics, logger: logger,
                                            onBound: httpPort.set)
            } else {
                http = nil
            }
            egress = try Egress(context: context, log: log, configuration: configuration.transport, logger: logger)
            replay = try ReplayServer(context: context, log: log, configuration: configuration.transport, audit: { reader, events in
                try audit.recordNow(AuditEntry.replayed(events, to: reader))
            }, logger: logger)
        } catch {
            log.close()
            throw error
        }
        if let cluster = configuration.cluster, let leases {
            let modules = hosts.map { host in
                Owned(name: host.module.name, service: host, fence: host.store.database as? FencedStore, host: host, leases: leases, cluster: cluster,
                      pinned: configuration.storage(of: host.module.name) == .sqlite, logger: logger)
            }
            let (link, remoteDispatchers) = (self.link, self.remoteDispatchers)
            let remoteModules = zip(remote, remoteDispatchers).compactMap { module, dispatcher in
                link.map { Owned(name: module.name, service: dispatcher, fence: LinkFence(link: $0, module: module.name), host: nil,
                                 leases: leases, cluster: cluster, pinned: false, logger: logger) }
            }
            let bus = [(Eraser.subscription, eraser as any Service)] + (retention.map { [(RetentionWatch.subscription, $0 as any Service)] } ?? [])
            ownedServices = modules + remoteModules + bus.map { name, service in
                Owned(name: name, service: service, fence: nil, host: nil, leases: leases, cluster: cluster, pinned: false, logger: logger)
            }
        } else {
            ownedServices = []
        }
    }

    /// Runs until a signal in `signals` (or `triggerShutdown`) asks it to stop, then drains.
    /// `onReady` runs once every service started, when the signals are already trapped: a
    /// SIGTERM from then on always means an orderly shutdown.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint], onReady: @escaping @Sendable () -> Void = {}) async throws {
        // Started in this order, shut down in reverse. Any service ending, by error or not,
        // shuts the node down in order rather than cancelling what is in flight.
        var ordered: [any Service] = [LogCloser(log: log)]
        if !schemaLocks.isEmpty { ordered.append(configuration.cluster == nil ? SchemaLockWatch(locks: schemaLocks) : SharedSchemaHold(locks: schemaLocks, logger: logger)) }
        if let zap { ordered.append(zap) }
        ordered += [egress, replay] as [any Service]
        if let link { ordered.append(link) }
        if configuration.cluster != nil {
            ordered += ownedServices as [any Service]
        } else {
            ordered += hosts as [any Service]
            ordered += remoteDispatchers as [any Service]
            ordered.append(eraser)
            if let retention { ordered.append(retention) }
        }
        ordered.append(ingress)
        if let http { ordered.append(http) }
        // Ready means every listener is bound: the HTTP side binds once its service runs.
        let (httpPort, hasHTTP) = (self.httpPort, http != nil)
        ordered += [shutdownTrigger, ReadyAnnouncer(announce: onReady) { !hasHTTP || httpPort.value != nil }] as [any Service]
        let services = ordered.map {
            ServiceGroupConfiguration.ServiceConfiguration(
                service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: signals, logger: logger))
        logger.info("node ready", metadata: [
            "bus.ingress": "\(ingress.endpoint)", "bus.egress": "\(egress.endpoint)", "bus.replay": "\(replay.endpoint)",
            "bus.head": "\(log.headOffset)", "wzt.modules": "\(hosts.map(\.module.name).joined(separator: ","))",
        ].merging(configuration.cluster.map { ["wzt.node": "\($0.node)", "wzt.lease": "\($0.lease)"] } ?? [:]) { first, _ in first })
        try await group.run()
    }

    private let shutdownTrigger = ShutdownTrigger()

    /// The port the HTTP side listens on, once it does.
    public var boundHTTPPort: Int? { httpPort.value }

    /// Starts the same orderly shutdown as SIGTERM.
    public func triggerShutdown() { shutdownTrigger.fire() }
}

extension AuditEntry {
    /// A reader of the log through the replay socket (`wzt tail`, another agency's system): one
    /// entry per case the answer held events about.
    static func replayed(_ events: [StoredEvent], to reader: String?) -> [AuditEntry] {
        guard let first = events.first?.offset, let last = events.last?.offset else { return [] }
        var seen = Set<String>()
        return events.compactMap(\.subject).filter { seen.insert($0).inserted }.map { subject in
            AuditEntry(actor: reader ?? ActorRule.anonymous, role: "bus-reader", agency: nil, action: "replay offsets \(first)-\(last)",
                       subject: subject, purpose: "operations", outcome: .allowed)
        }
    }
}

/// Closes the log last: its `run` returns only when the group shuts down.
private struct LogCloser: Service {
    let log: EventLog

    func run() async throws {
        try? await gracefulShutdown()
        log.close()
    }
}

/// Stops the node when it loses the hold on a PostgreSQL schema it writes: another node may take
/// the schema from then on, and two must never write one log or one module's tables.
struct SchemaLockWatch: Service {
    let locks: [PostgresSchemaLock]

    struct Lost: Error, CustomStringConvertible {
        let schema: String
        var description: String {
            "the connection that held schema \(schema) for this node ended (a server restart, a terminated session, a network cut), so another node may take it; this node stops rather than write beside one. Start it again once the server answers"
        }
    }

    func run() async throws {
        let lost: String?
        do {
            lost = try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: String.self) { group in
                    for lock in locks {
                        group.addTask {
                            try await lock.waitUntilLost()
                            return lock.schema
                        }
                    }
                    defer { group.cancelAll() }
                    return try await group.next()
                }
            }
        } catch is CancellationError {
            return  // the node is shutting down with its locks held
        }
        if let lost { throw Lost(schema: lost) }
    }
}

/// In a cluster: keeps the node's shared hold on the schemas it writes, taken again when a server
/// restart or a failover ended it, so that a node without `[cluster]` stays refused. Losing it
/// does not stop the node: the nodes of a cluster ride out a server restart.
struct SharedSchemaHold: Service {
    let locks: [PostgresSchemaLock]
    let logger: Logger

    func run() async throws {
        await withDiscardingTaskGroup { group in
            for lock in locks { group.addTask { await keep(lock) } }
        }
    }

    private func keep(_ first: PostgresSchemaLock) async {
        var lock: PostgresSchemaLock? = first
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if let held = lock {
                guard (try? await cancelWhenGracefulShutdown { try await held.waitUntilLost() }) != nil else { return }
                lock = nil
            }
            do {
                lock = try await PostgresSchemaLock.take(url: first.url, schema: first.schema, holder: first.holder, shared: true, logger: logger)
                failures = 0
            } catch {
                failures += 1
                if failures == 1 || failures % 60 == 0 {
                    logger.warning("the shared hold on a schema could not be taken again", metadata: ["wzt.schema": "\(first.schema)", "bus.error": "\(error)"])
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
    }
}

/// The port a server bound, known once it runs.
private final class BoundPort: Sendable {
    private let port = NIOLockedValueBox<Int?>(nil)
    var value: Int? { port.withLockedValue { $0 } }
    @Sendable func set(_ bound: Int) { port.withLockedValue { $0 = bound } }
}

/// Started last, inside the group (whose signal handlers are installed before any service runs).
struct ReadyAnnouncer: Service {
    let announce: @Sendable () -> Void
    /// Whether all that the announcement promises is up; asked until it is.
    var isReady: @Sendable () -> Bool = { true }

    func run() async throws {
        let ready: Void? = try? await cancelWhenGracefulShutdown {
            while !isReady() { try await Task.sleep(for: .milliseconds(10)) }
        }
        if ready != nil { announce() }
        try? await gracefulShutdown()
    }
}

/// Lets code outside the group start a graceful shutdown (tests, an admin command).
final class ShutdownTrigger: Service, Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream() }

    func fire() { continuation.yield() }

    func run() async throws {
        // Returning from run() without error ends the group gracefully; shutdown by others ends the wait.
        for await _ in stream.cancelOnGracefulShutdown() { return }
    }
}

extension Node {
    /// The node's AsyncAPI document for `GET /asyncapi.json`; nil, and said, when a contract
    /// cannot be described (a mistake in the contract, which the contract tests catch first).
    static func asyncAPI(_ configuration: NodeConfiguration, logger: Logger) -> String? {
        do {
            return ContractCatalogue.asyncAPI(try ContractCatalogue.entries(), endpoints: .init(configuration)).json
        } catch {
            logger.error("no /asyncapi.json", metadata: ["wzt.error": "\(error)"])
            return nil
        }
    }
}
