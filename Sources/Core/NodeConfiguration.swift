import Bus
import BusTransport
import Foundation
import Logging
import ModuleKit
import Notifications
import OperatorHTTP
import PostgresStorage
import Storage

/// Everything a node (`wzt serve`) needs to start, with defaults that work with no file at all:
/// all modules in this process, SQLite under `./data`, ZeroMQ on loopback ports 5555-5557.
public struct NodeConfiguration: Sendable {
    public var dataDirectory = "./data"
    public var maxEventBytes = EnvelopeDecoder.defaultMaxBytes
    public var transport = TransportConfiguration()
    public var dispatch = Dispatcher.Configuration()
    /// Modules hosted by this node; nil: every module this build knows but the remote ones.
    public var modules: [String]?
    /// In a core: modules that run in other processes, fed over the module link (`link.endpoint`).
    public var remoteModules: [String] = []
    /// In a process that hosts modules for a core elsewhere: where that core is. Such a process
    /// keeps no log and binds nothing; it runs its modules only.
    public var core: CoreConnection?
    public var logLevel: Logger.Level = .info
    /// Directories whose `.so` files are loaded as regional rule-set plugins.
    public var pluginPaths: [String] = []
    /// Where the HTTP side (health, readiness, metrics) listens; nil: no HTTP side.
    public var http: HTTPEndpoint? = HTTPEndpoint(host: "127.0.0.1", port: 8780)
    /// Who may `POST /events`, with which token and types; none by default.
    public var httpPublishers: [HTTPPublisher] = []
    /// Operators and caseworkers who read through HTTP; none by default (see `Access`).
    public var httpUsers: [HTTPUser] = []
    /// Channels and retries of the notifications module; no channels by default.
    public var notifications = NotificationsConfiguration()
    /// The purposes each module may read events for (`[privacy.grants]`); nil: each module is
    /// granted the purposes it declares, which suits one agency running everything. A deployment
    /// that lists grants lists them for every module it runs or feeds.
    public var purposeGrants: [String: Set<Purpose>]?
    /// Personal fields are sealed in the log with their subject's key. Not a config key: only the
    /// benchmark turns it off, to measure what sealing costs.
    public var sealsPersonalFields = true
    /// Days after a subject's last event for a purpose until its personal data is erased
    /// (`[privacy.retention]`); none by default: nothing is erased unless someone asks.
    public var retentionDays: [Purpose: Int] = [:]
    /// Where each module keeps its tables (`[storage]`): by module name, else `defaultStorage`.
    public var storage: [String: ModuleStorage] = [:]
    public var defaultStorage = ModuleStorage.sqlite
    /// Where the event log keeps its tables (`[storage] log`): the data directory's `log.sqlite`
    /// unless configured; `default` does not move it, so that no log is left behind by a change of
    /// the modules' default.
    public var logStorage = ModuleStorage.sqlite
    /// Several core nodes sharing one PostgreSQL log (`[cluster]`); nil: this node runs alone.
    public var cluster: ClusterConfiguration?
    /// Where the values came from, for messages: a path, or "built-in defaults".
    public var origin = "built-in defaults"

    public init() {}

    /// The names of the modules this process hosts itself.
    public var hostedModules: [String] { modules ?? ModuleCatalog.moduleNames.filter { !remoteModules.contains($0) } }

    /// Refuses a configuration that would listen beyond this host in plain text.
    /// What is wrong with `text` as an endpoint to bind, for a config key and a command-line
    /// flag alike; nil when it is a tcp, ipc or inproc endpoint.
    public static func endpointProblem(_ text: String) -> String? {
        let schemes = ["tcp://", "ipc://", "inproc://"]
        guard schemes.contains(where: text.hasPrefix) else {
            return "\"\(text)\" is not a ZeroMQ endpoint wzt binds; write tcp://127.0.0.1:5555, ipc:///run/wzt/ingress or inproc://name"
        }
        if text.hasPrefix("tcp://") {
            let address = text.dropFirst("tcp://".count)
            guard let colon = address.lastIndex(of: ":"), !address[..<colon].isEmpty,
                  address[address.index(after: colon)...] == "*" || UInt16(address[address.index(after: colon)...]) != nil else {
                return "\"\(text)\" needs a host and a port, e.g. tcp://127.0.0.1:5555 (or :* for any free port)"
            }
        }
        return nil
    }

    public func checkExposure() throws(ConfigError) {
        guard let (key, endpoint) = transport.exposedPlainEndpoints.first else { return }
        throw ConfigError(origin: origin, key: key, """
            \(endpoint) listens beyond this host in plain text: anyone on the network could read and publish personal data. \
            Bind it to 127.0.0.1, or turn on CURVE: `wzt keys generate --out keys --name core`, set [security] \
            secret_key_file = "keys/core.key", and list each client's public key under [[security.keys]] (docs/operations.md, "Security")
            """)
    }

    /// Refuses to feed a module events for a purpose this deployment does not grant it.
    public func checkPurposes(of modules: [any Module]) throws(ConfigError) {
        guard let grants = purposeGrants else { return }
        for module in modules {
            let granted = grants[module.name] ?? []
            for need in module.needs where !granted.contains(need.purpose) {
                let missing = module.purposes.subtracting(granted).sorted().map { "\"\($0)\"" }.joined(separator: ", ")
                throw ConfigError(origin: origin, key: "privacy.grants.\(module.name)", """
                    module \(module.name) reads \(need.pattern) for the purpose "\(need.purpose)", which this deployment does not grant it. \
                    If the module's task here includes it, add \(missing) to privacy.grants.\(module.name); otherwise do not run the module here
                    """)
            }
        }
    }

    public var logPath: String { dataDirectory + "/log.sqlite" }
    public var auditPath: String { dataDirectory + "/audit.sqlite" }
    public func modulePath(_ module: String) -> String { dataDirectory + "/modules/\(module).sqlite" }
    public func storage(of module: String) -> ModuleStorage { storage[module] ?? defaultStorage }

    /// The event log where this configuration keeps it, created and migrated when needed.
    public func openLog(logger: Logger) async throws -> EventLog {
        switch logStorage {
        case .sqlite:
            return try EventLog(path: logPath, sealsPersonalFields: sealsPersonalFields, logger: logger)
        case .postgres(let url):
            guard !FileManager.default.fileExists(atPath: logPath) else {
                throw ConfigError(origin: origin, key: "storage.log", """
                    the data directory already holds an event log in SQLite (\(logPath)), and wzt does not copy a log between engines. \
                    Remove `log` from [storage] to go on with that log, or use another data directory to start with an empty log in PostgreSQL
                    """)
            }
            let store = try await PostgresStore.open(url: url, schema: EventLog.postgresSchema, migrations: EventLog.migrations(for: .postgres),
                                                     idleInTransactionTimeout: cluster?.idleInTransactionTimeout, logger: logger)
            return try EventLog(store: store, sealsPersonalFields: sealsPersonalFields, sharedWithOtherNodes: cluster != nil, logger: logger)
        }
    }

    /// The modules' leases of a cluster, on connections of their own to the log's schema (which
    /// `openLog` created), so that renewing them never waits behind the log's group commits.
    func openLeases(logger: Logger) async throws -> ModuleLeases {
        guard case .postgres(let url) = logStorage else {
            throw ConfigError(origin: origin, key: "cluster.node", "several core nodes share one event log in PostgreSQL: set [storage] log = \"postgres://…\"")
        }
        return ModuleLeases(store: try await PostgresStore.open(url: url, schema: EventLog.postgresSchema, migrations: SQLMigrations(),
                                                                idleInTransactionTimeout: cluster?.idleInTransactionTimeout, logger: logger))
    }

    /// In a cluster: holds the node's name for this process, or throws naming the process that
    /// holds it. Released when the process ends, however it ends (a kill -9 included), so a node
    /// restarts under its name at once. Nil without `[cluster]`.
    func lockNodeName(logger: Logger) async throws(StoreError) -> PostgresSchemaLock? {
        guard let cluster, case .postgres(let url) = logStorage else { return nil }
        return try await PostgresSchemaLock.take(url: url, schema: "cluster node \(cluster.node)", holder: "wzt serve node \(cluster.node)",
                                                 advice: "each node of a cluster needs a name of its own (cluster.node in \(origin)); stop that one first or rename this one",
                                                 logger: logger)
    }

    /// Holds, for this process, the PostgreSQL schemas it writes: the log's (with `log`) when the
    /// log is there, and those of `modules` stored there. Released when the locks are. `shared`:
    /// beside the other nodes of a cluster (`PostgresSchemaLock`).
    public func lockPostgresSchemas(log: Bool, modules: [String], shared: Bool = false, holder: String, logger: Logger) async throws(StoreError) -> [PostgresSchemaLock] {
        var schemas: [(url: String, schema: String)] = []
        if log, case .postgres(let url) = logStorage { schemas.append((url, EventLog.postgresSchema)) }
        for module in modules {
            if case .postgres(let url) = storage(of: module) { schemas.append((url, module)) }
        }
        var locks: [PostgresSchemaLock] = []
        for (url, schema) in schemas {
            locks.append(try await PostgresSchemaLock.take(url: url, schema: schema, holder: holder, shared: shared, logger: logger))
        }
        return locks
    }

    /// The module's store where this configuration keeps it, created and migrated when needed.
    public func openStore(_ module: any Module, logger: Logger) async throws -> ModuleStore {
        switch storage(of: module.name) {
        case .sqlite:
            return try ModuleStore(module: module, path: modulePath(module.name))
        case .postgres(let url):
            let store = try await PostgresStore.open(url: url, schema: module.name, migrations: ModuleStore.migrations(of: module),
                                                     idleInTransactionTimeout: cluster?.idleInTransactionTimeout, logger: logger)
            // In a cluster any node may take the module over: each write checks this node's lease.
            return ModuleStore(database: cluster == nil ? store : FencedStore(store, module: module.name))
        }
    }
}

/// `[cluster]`: this node among several core nodes that share one PostgreSQL log. Each module is
/// run by one node at a time, under a lease of `lease` that the node renews; when it stops
/// renewing (killed, paused, cut off), another node takes the module over.
public struct ClusterConfiguration: Sendable, Hashable {
    /// Unique among the nodes: a node restarted under its name takes its modules back at once.
    public var node: String
    public var lease: Duration = .seconds(3)

    public init(node: String, lease: Duration = .seconds(3)) {
        self.node = node
        self.lease = lease
    }

    /// A node paused in the middle of a transaction holds its locks (the log's append lock, a
    /// lease's row) until the server ends its session: within half a lease, so that the others
    /// go on appending and can take its modules over in time.
    var idleInTransactionTimeout: Duration { lease / 2 }
}

/// Where a module, or the event log, keeps its tables.
public enum ModuleStorage: Sendable, Equatable, CustomStringConvertible {
    /// A file under the data directory: `modules/<name>.sqlite`, `log.sqlite`.
    case sqlite
    /// A PostgreSQL server (`postgres://user@host:port/database`); a module gets a schema named
    /// after it, the log `wzt_log`.
    case postgres(String)

    /// As `check-config` shows it: a server's address without its password.
    public var description: String {
        switch self {
        case .sqlite: "sqlite"
        case .postgres(let url): PostgresStore.redacted(url)
        }
    }
}

/// A configuration value is wrong. Names the key and says how to fix it.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let origin: String
    public let key: String
    public let message: String

    public init(origin: String, key: String, _ message: String) {
        self.origin = origin
        self.key = key
        self.message = message
    }

    public var description: String { key.isEmpty ? "\(origin): \(message)" : "\(origin): `\(key)`: \(message)" }
}

/// HOST:PORT for the HTTP side; port 0 takes any free port.
public struct HTTPEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; nil when it is not that.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port),
              !text[..<colon].isEmpty else { return nil }
        self.init(host: String(text[..<colon]), port: port)
    }

    public var description: String { "\(host):\(port)" }
}

/// How a module process reaches its core: the link endpoint, and CURVE keys when the core has them.
public struct CoreConnection: Sendable, Hashable {
    /// The link endpoint of the core, or of each node of a cluster (one CURVE key for all).
    public var endpoints: [String]
    public var curve: CurveCredentials?

    public init(endpoints: [String], curve: CurveCredentials? = nil) {
        self.endpoints = endpoints
        self.curve = curve
    }

    public init(endpoint: String, curve: CurveCredentials? = nil) {
        self.init(endpoints: [endpoint], curve: curve)
    }
}
