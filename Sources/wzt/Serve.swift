import ArgumentParser
import Core
import Foundation
import Logging
import Metrics
import Prometheus
import Bus
import ModuleKit

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node: event log, ZeroMQ ingress/egress/replay, and the configured modules.",
        discussion: """
            With no configuration, every module runs in this process on SQLite files under ./data, the \
            ingress listens on tcp://127.0.0.1:5555, the live feed on :5556 and replay on :5557. \
            SIGINT or SIGTERM stops taking events, finishes and acks those in flight, then exits.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: ArgumentHelp("Ingress endpoint; overrides ingress.endpoint.", valueName: "endpoint"))
    var ingress: String?
    @Option(help: ArgumentHelp("Live feed (PUB) endpoint; overrides egress.endpoint.", valueName: "endpoint"))
    var egress: String?
    @Option(help: ArgumentHelp("Replay endpoint; overrides replay.endpoint.", valueName: "endpoint"))
    var replay: String?
    @Option(help: ArgumentHelp("HTTP side (health, readiness, metrics) as HOST:PORT, or off; overrides http.endpoint.", valueName: "host:port"))
    var http: String?

    func run() async throws {
        var configuration = try options.load()
        // Flags are checked as the config's keys are: syntax here, exposure when the node starts.
        for (flag, value) in [("--ingress", ingress), ("--egress", egress), ("--replay", replay)] {
            if let value, let problem = NodeConfiguration.endpointProblem(value) { throw CommandFailure("\(flag): \(problem)") }
        }
        if let ingress { configuration.transport.ingressEndpoint = ingress }
        if let egress { configuration.transport.egressEndpoint = egress }
        if let replay { configuration.transport.replayEndpoint = replay }
        if let http {
            guard http == "off" || HTTPEndpoint(http) != nil else { throw CommandFailure("--http \(http): write HOST:PORT, e.g. 127.0.0.1:8780, or off") }
            configuration.http = HTTPEndpoint(http)
        }
        Logging.bootstrap(level: configuration.logLevel)
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))
        let logger = Logger(label: "wzt")

        let modules = configuration.hostedModules.compactMap { ModuleCatalog.modules[$0]?(configuration) }
        if let core = configuration.core {
            let process: ModuleProcess
            do {
                process = try await ModuleProcess(configuration: configuration, core: core, modules: modules, logger: logger)
            } catch {
                throw CommandFailure("wzt serve could not start: \(error)")
            }
            let ready = "wzt ready modules=\(modules.map(\.name).joined(separator: ",")) core=\(core.endpoints.joined(separator: ",")) curve=\(core.curve == nil ? "off" : "on") data=\(configuration.dataDirectory) config=\"\(configuration.origin)\"\n"
            try await process.run { FileHandle.standardOutput.write(Data(ready.utf8)) }
            return
        }
        let remote = configuration.remoteModules.compactMap { ModuleCatalog.modules[$0]?(configuration) }
        let node: Node
        do {
            node = try await Node(configuration: configuration, modules: modules, remote: remote, metrics: metrics, logger: logger)
        } catch {
            throw CommandFailure("wzt serve could not start: \(error)")
        }
        // One line on stdout that scripts and tests wait for, once SIGTERM is handled; everything else goes to the log.
        let ready = "wzt ready ingress=\(node.ingress.endpoint) egress=\(node.egress.endpoint) replay=\(node.replay.endpoint) \(node.link.map { "link=\($0.endpoint) " } ?? "")curve=\(configuration.transport.security == nil ? "off" : "on") http=\(configuration.http.map(\.description) ?? "off") data=\(configuration.dataDirectory) config=\"\(configuration.origin)\"\n"
        try await node.run { FileHandle.standardOutput.write(Data(ready.utf8)) }
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file and print what a node would use."
    )

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let configuration = try options.load()
        try configuration.checkExposure()
        print("""
            configuration: \(configuration.origin)
            data.dir: \(configuration.dataDirectory)
            bus.max_event_bytes: \(configuration.maxEventBytes)
            ingress.endpoint: \(configuration.transport.ingressEndpoint)
            egress.endpoint: \(configuration.transport.egressEndpoint)
            replay.endpoint: \(configuration.transport.replayEndpoint)
            security: \(configuration.transport.security.map { "CURVE, \($0.clients.count) key(s): \($0.clients.map(\.name).joined(separator: ", "))" } ?? "off (loopback only)")
            dispatch.max_attempts: \(configuration.dispatch.retry.maxAttempts)
            dispatch.backoff_ms: \(configuration.dispatch.retry.backoff.map { "\($0.milliseconds)" }.joined(separator: ", "))
            modules: \(configuration.hostedModules.joined(separator: ", "))
            """)
        if !configuration.remoteModules.isEmpty {
            print("modules.remote: \(configuration.remoteModules.joined(separator: ", ")) (link.endpoint \(configuration.transport.linkEndpoint))")
        }
        if let core = configuration.core { print("core.endpoints: \(core.endpoints.joined(separator: ", "))") }
        if configuration.core == nil { print("storage.log: \(configuration.logStorage)") }
        for module in configuration.hostedModules { print("storage.\(module): \(configuration.storage(of: module))") }
        print("""
            cluster: \(configuration.cluster.map { "node \($0.node), lease_ms \($0.lease.milliseconds)" } ?? "off (one core node)")
            log.level: \(configuration.logLevel)
            ok
            """)
    }
}

struct Contracts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The event types this build accepts: their fields, data versions and personal fields, and their JSON Schemas.",
        discussion: "Personal fields are sealed in the log with the key of the event's subject (docs/protocol.md). docs/contracts.md is `wzt contracts markdown`.",
        subcommands: [List.self, Schema.self, Markdown.self, AsyncAPI.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List each event type with its data versions and personal fields (the default).")

        @Flag(help: "Print each type with its versions, personal fields and JSON Schema, as one JSON array.")
        var json = false

        func run() throws {
            let entries = try ContractCatalogue.entries()
            if json {
                print(ContractCatalogue.json(entries).json)
                return
            }
            for entry in entries {
                print("\(entry.type)  v\(entry.versions.map(String.init).joined(separator: ", v"))" + (entry.personal.isEmpty ? "" : "  personal: \(entry.personal.joined(separator: ", "))"))
            }
        }
    }

    struct Schema: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the JSON Schema (2020-12) of one event type's data.")

        @Argument(help: "The event type, e.g. be.wzt.intake.screening-requested (`wzt contracts` lists them).")
        var type: String

        func run() throws {
            let entries = try ContractCatalogue.entries()
            guard let entry = entries.first(where: { $0.type == type }) else {
                throw ValidationError("\(type) is not a known event type; `wzt contracts` lists them")
            }
            print(entry.schema.json)
        }
    }

    struct AsyncAPI: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "asyncapi",
            abstract: "Print the AsyncAPI 3.0 document of a node: its endpoints, every event as a message, CURVE when it has it (also GET /asyncapi.json).")

        @OptionGroup var node: NodeConfigOption

        func run() throws {
            let configuration = try node.load() ?? NodeConfiguration()
            print(ContractCatalogue.asyncAPI(try ContractCatalogue.entries(), endpoints: .init(configuration)).json)
        }
    }

    struct Markdown: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print docs/contracts.md: every event type's fields, written from the contracts.")

        func run() throws {
            print(ContractCatalogue.markdown(try ContractCatalogue.entries()), terminator: "")
        }
    }
}
