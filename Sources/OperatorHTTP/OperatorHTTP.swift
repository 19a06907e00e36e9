import Audit
import Bus
import BusTransport
import Foundation
import Hummingbird
import Logging
import ModuleKit
import Prometheus
import ServiceLifecycle
import Synchronization

/// The HTTP side could not listen: where, why, and what to do.
public struct HTTPBindError: Error, CustomStringConvertible {
    public let endpoint: String
    public let cause: String

    public var description: String {
        let inUse = cause.contains("errno: 98") || cause.localizedCaseInsensitiveContains("address already in use")
        let hint = inUse ? "the address is in use (another wzt serve?); stop that process, choose a free port with --http HOST:PORT or http.endpoint, or --http off"
                         : "\(cause); check http.endpoint (HOST:PORT of this host), or --http off"
        return "\(endpoint): cannot listen for HTTP: \(hint)"
    }
}

/// The node's HTTP side: liveness, readiness, Prometheus metrics and the status page for operators,
/// the case documents of `/api` for caseworkers, and `POST /events` for systems that cannot speak
/// ZeroMQ. It uses the log and the module hosts; nothing on the bus depends on it.
public enum OperatorHTTP {
    /// An HTTP server on `host:port` (port 0: any free port, reported through `onBound`).
    /// `publishers` may `POST /events`; with none, every such request is unauthorised. `users`
    /// read health details (operators) or case documents (caseworkers); see `Access`.
    public static func service(host: String, port: Int, log: EventLog, decoder: EnvelopeDecoder, publishers: [HTTPPublisher], actors: ActorRule = ActorRule(),
                               users: [HTTPUser], audit: AuditLog, hosts: [ModuleHost], remote: [any Module] = [], link: ModuleLinkServer? = nil,
                               dataDirectory: String? = nil, asyncAPI: String? = nil, rules: RuleBook? = nil, refusedPlugins: [String] = [],
                               registry: PrometheusCollectorRegistry, logger: Logger,
                               onBound: @escaping @Sendable (Int) -> Void = { _ in }) -> any Service {
        let router = Router()
        let access = Access(users: users, host: host)
        let watched = WatchedModule.all(hosts: hosts, remote: remote, link: link)
        HTTPIngress.add(to: router, log: log, decoder: decoder.forPublishers, publishers: publishers, actors: actors)
        let samples = ConsoleSamples()
        let node = Console.Node(modules: watched, samples: samples, rules: rules, refusedPlugins: refusedPlugins, startedAt: Date())
        StatusPage.add(to: router, log: log, node: node, audit: audit, access: access)
        Console.add(to: router, log: log, node: node, audit: audit, access: access)
        Console.addBrowsing(to: router, log: log, node: node, access: access)
        OutcomeAPI.add(to: router, log: log, modules: watched, publishers: publishers, access: access)
        ReadAPI.add(to: router, hosts: hosts, log: log, audit: audit, access: access)
        if let asyncAPI {
            // What integrators build against: public, like the contracts it lists.
            router.get("asyncapi.json") { _, _ in
                Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: asyncAPI)))
            }
        }
        router.get("health") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("ready") { request, _ in
            var problems: [String] = []
            if log.isClosed {
                problems.append("the event log is closed")
            } else if let problem = await Self.unanswered(log, within: .seconds(2)) {
                problems.append(problem)
            }
            if let dataDirectory, let problem = Self.unwritable(dataDirectory) { problems.append(problem) }
            problems += hosts.filter { !$0.isStarted && $0.ownedElsewhere == nil }.map { "module \($0.module.name) has not started" }
            // Anyone may probe readiness; which part is not ready is a health detail for operators.
            let details = access.refuseUnlessOperator(request) == nil ? problems : nil
            let body = try JSONEncoder().encode(Readiness(status: problems.isEmpty ? "ready" : "not-ready", problems: details))
            return Response(status: problems.isEmpty ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("metrics") { request, _ in
            if let refusal = access.refuseUnlessOperator(request) { return refusal }
            let lagDescriptor = MetricNameDescriptor(namespace: "wzt", metricName: "cursor_lag", unitName: "events",
                                                     helpText: "Events of the subscription's types beyond its cursor")
            let rateDescriptor = MetricNameDescriptor(namespace: "wzt", metricName: "dispatch_apply_rate", unitName: "events_per_second",
                                                      helpText: "Events the subscription applied per second over about the last ten seconds")
            let behindDescriptor = MetricNameDescriptor(namespace: "wzt", metricName: "dispatch_behind", unitName: "seconds",
                                                        helpText: "Age of the subscription's oldest unapplied event; 0 when it has applied everything")
            // Lag is a question to the log, asked at scrape time rather than kept up to date on every append.
            // The bus's own subscription (erasure requests) has a cursor too, watched like a module's.
            let privacy = WatchedModule(name: Eraser.subscription, patterns: Eraser.takes) { "running" }
            for module in watched + [privacy] where !log.isClosed {
                // The log away (its database restarting): the gauges keep their last values, and the
                // rest of the page (the nack counters above all) is still answered.
                guard let position = try? await module.position(in: log) else { continue }
                let labels = [("subscription", module.name)]
                registry.makeGauge(descriptor: lagDescriptor, labels: labels).set(Double(position.lag))
                registry.makeGauge(descriptor: rateDescriptor, labels: labels).set(position.appliedPerSecond)
                registry.makeGauge(descriptor: behindDescriptor, labels: labels).set(position.secondsBehind)
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: MetricCatalogue.exposition(registry))))
        }
        let bound = Bound()
        let application = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "wzt"), onServerRunning: { channel in
            bound.set()
            onBound(channel.localAddress?.port ?? port)
        }, logger: logger)
        return HTTPSide(application: application, endpoint: "\(host):\(port)", bound: bound) { await samples.run(log: log, modules: watched) }
    }

    /// Why the log's database cannot be read, or nil when it answers within `limit`. A probe that
    /// hangs (a server cut off without a reset) is left behind rather than waited for.
    static func unanswered(_ log: EventLog, within limit: Duration) async -> String? {
        let (answers, answer) = AsyncStream.makeStream(of: String?.self)
        let probe = Task {
            do {
                try await log.probe()
                answer.yield(nil)
            } catch {
                answer.yield("the event log's database does not answer: \(error)")
            }
        }
        let timer = Task {
            try await Task.sleep(for: limit)
            answer.yield("the event log's database does not answer: no answer within \(limit)")
        }
        defer {
            probe.cancel()
            timer.cancel()
        }
        for await problem in answers { return problem }
        return nil
    }

    /// Why nothing could be written in `directory` (every publish would be nacked), or nil.
    /// Tried, not inferred from permissions: root ignores them, a read-only mount does not.
    static func unwritable(_ directory: String) -> String? {
        let probe = directory + "/.wzt-ready-\(getpid())"
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return "the data directory \(directory) is not writable: \(String(cString: strerror(errno)))" }
        close(descriptor)
        unlink(probe)
        return nil
    }

    /// The server, with a bind failure told as the ZeroMQ sockets tell theirs: endpoint, cause, what to do.
    private struct HTTPSide: Service {
        let application: any Service
        let endpoint: String
        let bound: Bound

        let sampling: @Sendable () async -> Void

        func run() async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        try await application.run()
                    } catch where !bound.isSet {
                        throw HTTPBindError(endpoint: endpoint, cause: "\(error)")
                    }
                }
                group.addTask(operation: sampling)
                // The server ends the side (shutdown or error); the sampler only follows it.
                try await group.next()
                group.cancelAll()
            }
        }
    }

    private final class Bound: Sendable {
        private let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .acquiring) }
        func set() { flag.store(true, ordering: .releasing) }
    }

    private struct Readiness: Encodable {
        let status: String
        let problems: [String]?
    }
}

/// A module whose cursor this node keeps: hosted here, or in another process over the module link.
struct WatchedModule: Sendable {
    let name: String
    let patterns: [EventPattern]
    /// "running" / "starting" here; "linked" / "not linked" for a remote one.
    let state: @Sendable () -> String

    static func all(hosts: [ModuleHost], remote: [any Module], link: ModuleLinkServer?) -> [WatchedModule] {
        hosts.map { host in
            WatchedModule(name: host.module.name, patterns: host.module.subscriptions) {
                host.isStarted ? "running" : host.ownedElsewhere.map { "run by node \($0)" } ?? "starting"
            }
        }
            + remote.map { module in
                WatchedModule(name: module.name, patterns: module.subscriptions) { link?.isConnected(module.name) == true ? "linked" : "not linked" }
            }
    }

    /// The module's cursor in the log; its lag (events of its types beyond the cursor); the rate
    /// it applies at; and the age of its oldest unapplied event.
    func position(in log: EventLog) async throws -> (cursor: Int64, lag: Int, appliedPerSecond: Double, secondsBehind: Double) {
        let now = Date()
        let saved = try await log.savedCursor(name)
        let cursor = saved?.offset ?? 0
        return (cursor, try await log.count(after: cursor, matching: patterns), saved?.appliedPerSecond(at: now) ?? 0,
                try await log.secondsBehind(cursor, matching: patterns, now: now))
    }
}
