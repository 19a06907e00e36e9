import Bus
import BusTransport
import Foundation
import Logging
import ModuleKit
import PostgresStorage
import ServiceLifecycle
import UnixSignals
import ZeroMQ

/// A process that hosts modules for a core on another process or host (`[core]` in its config):
/// each module with its own store, fed by the core over the module link and appending its outbox
/// to the core's log through it. No log, no ingress, nothing bound: the same `Module` code as in
/// the core, only the source of its events differs.
public final class ModuleProcess: Sendable {
    public let configuration: NodeConfiguration
    public let hosts: [ModuleHost]
    private let links: [ModuleLinkClient]
    private let logger: Logger
    private let context = Context()
    private let shutdownTrigger = ShutdownTrigger()
    /// This process's hold on its data directory, for as long as it exists.
    private let directoryLock: DataDirectoryLock
    /// And on the PostgreSQL schemas of its modules stored there.
    private let schemaLocks: [PostgresSchemaLock]

    public init(configuration: NodeConfiguration, core: CoreConnection, modules: [any Module], logger: Logger) async throws {
        self.configuration = configuration
        self.logger = logger
        guard !modules.isEmpty else {
            throw ConfigError(origin: configuration.origin, key: "modules.enabled", "a module process needs at least one module, e.g. enabled = [\"intake\"]")
        }
        try configuration.checkPurposes(of: modules)
        let holder = "wzt serve (modules \(modules.map(\.name).joined(separator: ", ")) of core \(core.endpoints.joined(separator: ", ")))"
        try OpenFilesLimit.raise()
        directoryLock = try DataDirectoryLock(configuration.dataDirectory, holder: holder)
        schemaLocks = try await configuration.lockPostgresSchemas(log: false, modules: modules.map(\.name), holder: holder, logger: logger)
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory + "/modules", withIntermediateDirectories: true)
        let (ruleBook, _) = try PluginLoader.ruleBook(configuration, logger: logger)
        let registry = try ContractRegistry(ModuleCatalog.contracts + modules.flatMap(\.contracts))
        let decoder = EnvelopeDecoder(registry: registry, maxBytes: configuration.maxEventBytes)
        var links: [ModuleLinkClient] = []
        var hosts: [ModuleHost] = []
        for module in modules {
            // Fed by the nodes of a cluster, the module's writes carry the fencing token of the node
            // that runs it, so that a node that lost it cannot have a window applied any more.
            // After a restart it goes on from the token its tables hold: no window under a lower one, nor without one.
            let fence = FencedStore(try await configuration.openStore(module, logger: logger).database, module: module.name, untilFirstToken: true)
            let fencedAt = try await fence.fencedAt()
            if fencedAt > 0 { fence.hold(fencedAt) }
            let link = try ModuleLinkClient(context: context, endpoints: core.endpoints, module: module.name, curve: core.curve, decoder: decoder,
                                            holdToken: { fence.hold($0) }, fencedAt: fencedAt, logger: logger)
            links.append(link)
            hosts.append(ModuleHost(module: module, store: ModuleStore(database: fence), source: link, appender: link, decoder: decoder, rules: ruleBook, logger: logger))
        }
        self.links = links
        self.hosts = hosts
    }

    /// Runs until a signal or `triggerShutdown`; the modules finish the event in hand, then the links close.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint], onReady: @escaping @Sendable () -> Void = {}) async throws {
        var ordered: [any Service] = links
        if !schemaLocks.isEmpty { ordered.insert(SchemaLockWatch(locks: schemaLocks), at: 0) }
        ordered += hosts as [any Service]
        ordered += [shutdownTrigger, ReadyAnnouncer(announce: onReady)] as [any Service]
        let services = ordered.map {
            ServiceGroupConfiguration.ServiceConfiguration(service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                                                           failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        logger.info("module process ready", metadata: ["wzt.modules": "\(hosts.map(\.module.name).joined(separator: ","))"])
        try await ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: signals, logger: logger)).run()
    }

    public func triggerShutdown() { shutdownTrigger.fire() }
}
