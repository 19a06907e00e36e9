import Bus
import BusTransport
import Core
import Foundation
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import PluginAPI
import Histogram
import IntakeContracts
import Logging
import Synchronization
import ZeroMQ

/// Scripts/bench: throughput and ack latency of wzt next to raw libzmq, measured in one run by
/// the same harness on the same machine, so the ratios mean something wherever it runs.
@main
struct Bench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        let known = ["--quick", "--sealing", "--validation", "--dispatch", "--backlog", "--modules", "--reactions", "--link-delay"]
        if let unknown = arguments.dropFirst().first(where: { !known.contains($0) }) {
            // Scripts/bench describes each option; a full run takes minutes, so a typo must not start one.
            print(unknown == "--help" || unknown == "-h" ? "" : "wzt-bench: unknown option \(unknown)")
            print("usage: wzt-bench [--quick] [--sealing | --validation | --dispatch | --backlog | --modules | --reactions [--link-delay]]  (Scripts/bench explains each)")
            exit(unknown == "--help" || unknown == "-h" ? 0 : 64)
        }
        let quick = arguments.contains("--quick")
        let rawMessages = quick ? 200_000 : 1_000_000
        let ingressEvents = quick ? 40_000 : 200_000
        let dispatchEvents = quick ? 50_000 : 200_000

        print("wzt bench on \(ProcessInfo.processInfo.activeProcessorCount) cores, libzmq \(zeroMQVersion)\(quick ? " (quick)" : "")")
        if arguments.contains("--sealing") {
            // Only what sealing personal fields costs, in four rounds, the sealed and the unsealed row
            // taking turns to run first (sealed first, unsealed first, unsealed first, sealed first), so
            // that a machine getting faster or slower during the run favours neither.
            var rows: [Row] = []
            for round in 0..<4 { rows += try await sealingRound(events: ingressEvents, unsealedFirst: round == 1 || round == 2) }
            printTable(rows)
            let (sealed, unsealed, fivePerCase) = (pooledRate(rows, row: 0, of: 3), pooledRate(rows, row: 1, of: 3), pooledRate(rows, row: 2, of: 3))
            print(String(format: "\nall rounds together: sealed/unsealed %.2f, sealed with five events per case/unsealed %.2f",
                         sealed / unsealed, fivePerCase / unsealed))
            return
        }
        if arguments.contains("--validation") {
            // Only the envelope validation, the largest share of ingest CPU, in three rounds.
            printTable(try (0..<3).map { _ in try validation(events: dispatchEvents) })
            return
        }
        if arguments.contains("--dispatch") {
            // Only in-process dispatch (log -> subscriber), in three rounds.
            var rows: [Row] = []
            for _ in 0..<3 { rows.append(try await dispatch(events: dispatchEvents)) }
            printTable(rows)
            return
        }
        if arguments.contains("--backlog") {
            printTable(try await backlog(events: quick ? 100_000 : 1_000_000))
            return
        }
        if arguments.contains("--modules") {
            printTable(try await moduleRows(quick: quick))
            return
        }
        if arguments.contains("--reactions") {
            try await reactionRounds(events: quick ? 5000 : 20_000, linkDelayMilliseconds: arguments.contains("--link-delay") ? 0.5 : nil)
            return
        }
        let raw = try rawPushPull(messages: rawMessages, size: 100)
        var rows = [Row(name: "raw libzmq PUSH/PULL tcp, 100 B", count: rawMessages, seconds: raw)]

        let payload = try sampleEnvelope(id: EventID.make())
        print("wzt payload: screening-requested envelope, \(payload.count) B")
        rows.append(try await ingress(name: "wzt ingress, 1 publisher, no ack wait (durable)", publishers: 1, window: Int.max, events: ingressEvents))
        let sealing = try await sealingRound(events: ingressEvents)
        rows += sealing
        var curve = try await ingress(name: "  the same with CURVE (encrypted, ZAP)", publishers: 8, window: 64, events: ingressEvents, curve: true)
        curve.notes += String(format: "; CURVE/plain %.2f", curve.rate / sealing[0].rate)
        rows.append(curve)
        // Scripts/bench starts a PostgreSQL server for these rows and names it here.
        let postgres = ProcessInfo.processInfo.environment["WZT_BENCH_POSTGRES"]
        if let postgres {
            var logOnPostgres = try await ingress(name: "  the same, the log in PostgreSQL", publishers: 8, window: 64, events: ingressEvents / 4, log: .postgres(postgres))
            logOnPostgres.notes += String(format: "; PostgreSQL/SQLite %.2f", logOnPostgres.rate / sealing[0].rate)
            rows.append(logOnPostgres)
        }
        rows += try await moduleRows(quick: quick)
        rows.append(try validation(events: dispatchEvents))
        rows.append(try await appendOnly(events: ingressEvents))

        printTable(rows, rawRate: rows[0].rate)
    }

    /// The rows about modules keeping up with the bus (`--modules`: these only).
    static func moduleRows(quick: Bool) async throws -> [Row] {
        let reactionEvents = quick ? 5000 : 20_000
        let inProcess = try await reactions(name: "publisher -> intake state change, in-process", events: reactionEvents, remote: false, curve: false)
        var remote = try await reactions(name: "  the same with intake in another process", events: reactionEvents, remote: true, curve: false)
        remote.notes += String(format: "; remote/in-process %.2f", remote.rate / inProcess.rate)
        var remoteCurve = try await reactions(name: "  the same, link and ingress with CURVE", events: reactionEvents, remote: true, curve: true)
        remoteCurve.notes += String(format: "; CURVE/plain %.2f", remoteCurve.rate / remote.rate)
        var rows = [inProcess, remote, remoteCurve]
        if let postgres = ProcessInfo.processInfo.environment["WZT_BENCH_POSTGRES"] {
            var onPostgres = try await reactions(name: "  the same, intake's tables in PostgreSQL", events: reactionEvents, remote: false, curve: false,
                                                 storage: .postgres(postgres))
            onPostgres.notes += String(format: "; PostgreSQL/SQLite %.2f", onPostgres.rate / inProcess.rate)
            rows.append(onPostgres)
        } else {
            print("(no PostgreSQL rows: WZT_BENCH_POSTGRES is not set; Scripts/bench sets it)")
        }
        for rate in [1000, 5000] {
            rows.append(try await openLoop(rate: rate, seconds: quick ? 4 : 10))
        }
        rows += try await backlog(events: quick ? 100_000 : 1_000_000)
        // 200,000 with --quick too: with fewer, starting the dispatcher weighs on the figure.
        rows.append(try await dispatch(events: 200_000))
        return rows
    }

    /// Only intake flooded in-process and in another process, in three rounds taking turns to run
    /// first, and the ratio over all rounds together: the row pair whose ratio is a target. With
    /// `linkDelayMilliseconds`, the link passes a proxy that holds its bytes that long each way.
    static func reactionRounds(events: Int, linkDelayMilliseconds: Double?) async throws {
        var rows: [Row] = []
        for round in 0..<3 {
            func inProcess() async throws -> Row {
                try await reactions(name: "publisher -> intake state change, in-process", events: events, remote: false, curve: false)
            }
            func remote() async throws -> Row {
                try await reactions(name: "  the same with intake in another process" + (linkDelayMilliseconds.map { ", link +\($0) ms" } ?? ""), events: events,
                                    remote: true, curve: false, linkDelayMilliseconds: linkDelayMilliseconds)
            }
            if round == 1 {
                let remoteRow = try await remote()
                rows += [try await inProcess(), remoteRow]
            } else {
                rows += [try await inProcess(), try await remote()]
            }
        }
        printTable(rows)
        let (inProcess, remote) = (pooledRate(rows, row: 0, of: 2), pooledRate(rows, row: 1, of: 2))
        print(String(format: "\nall rounds together: in-process %.0f events/s, in another process %.0f events/s, remote/in-process %.2f",
                     inProcess, remote, remote / inProcess))
    }

    /// Events over seconds of one row of every round together (`rows` holds rounds of `perRound`
    /// rows each): one figure per row in which the machine's drift during the run cancels.
    static func pooledRate(_ rows: [Row], row: Int, of perRound: Int) -> Double {
        let own = rows.indices.filter { $0 % perRound == row }.map { rows[$0] }
        return Double(own.map(\.count).reduce(0, +)) / own.map(\.seconds).reduce(0, +)
    }

    /// Scripts/delay-proxy.py in front of `endpoint` (tcp://HOST:PORT), holding bytes `milliseconds` each way.
    static func delayProxy(to endpoint: String, milliseconds: Double) throws -> (process: Process, input: Pipe, endpoint: String) {
        guard let port = endpoint.split(separator: ":").last else { throw BenchFailure("no port in \(endpoint)") }
        let proxy = Process()
        proxy.executableURL = URL(filePath: "/usr/bin/env")
        proxy.arguments = ["python3", "Scripts/delay-proxy.py", "0", "127.0.0.1", String(port), String(milliseconds)]
        // It ends when its standard input does: with this process, whatever way that ends.
        let (output, input) = (Pipe(), Pipe())
        proxy.standardOutput = output
        proxy.standardInput = input
        try proxy.run()
        var said = Data()
        while !said.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw BenchFailure("Scripts/delay-proxy.py did not start (run the bench from the project's directory)") }
            said += chunk
        }
        guard let listening = String(decoding: said, as: UTF8.self).split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) else {
            throw BenchFailure("Scripts/delay-proxy.py said \(String(decoding: said, as: UTF8.self))")
        }
        return (proxy, input, "tcp://127.0.0.1:\(listening)")
    }

    /// Durable acked ingest of screening requests, each about a new case, with the INSZ sealed
    /// and without, and their ratio; then sealed again with five events per case, as a case's
    /// events follow each other in use (each new case makes and stores a key, the others reuse it).
    static func sealingRound(events: Int, unsealedFirst: Bool = false) async throws -> [Row] {
        func sealed() async throws -> Row {
            try await ingress(name: "wzt ingress, durable acked, 8 publishers x 64", publishers: 8, window: 64, events: events)
        }
        func unsealed() async throws -> Row {
            try await ingress(name: "  the same without sealing the INSZ", publishers: 8, window: 64, events: events, sealing: false)
        }
        var sealedRow: Row, unsealedRow: Row
        if unsealedFirst {
            unsealedRow = try await unsealed()
            sealedRow = try await sealed()
            unsealedRow.notes += " (run first)"
        } else {
            sealedRow = try await sealed()
            unsealedRow = try await unsealed()
        }
        unsealedRow.notes += String(format: "; sealed/unsealed %.2f", sealedRow.rate / unsealedRow.rate)
        var fivePerCase = try await ingress(name: "  the same sealed, five events per case", publishers: 8, window: 64, events: events, eventsPerCase: 5)
        fivePerCase.notes += String(format: "; /unsealed %.2f", fivePerCase.rate / unsealedRow.rate)
        return [sealedRow, unsealedRow, fivePerCase]
    }

    /// The table of `rows`; "vs raw" is each rate over `rawRate` when raw libzmq was measured.
    static func printTable(_ rows: [Row], rawRate: Double? = nil) {
        print("")
        print("row".padding(toLength: 52, withPad: " ", startingAt: 0) + "events/s".leftPad(12) + "vs raw".leftPad(9) + "ack p50".leftPad(11) + "ack p99".leftPad(11) + "  notes")
        for row in rows {
            let latency = row.latency.map { (format(micros: $0.valueAtPercentile(50)), format(micros: $0.valueAtPercentile(99))) } ?? ("-", "-")
            print(row.name.padding(toLength: 52, withPad: " ", startingAt: 0) + "\(Int(row.rate))".leftPad(12)
                  + (rawRate.map { String(format: "%.3f", row.rate / $0) } ?? "-").leftPad(9) + latency.0.leftPad(11) + latency.1.leftPad(11) + "  " + row.notes)
        }
    }

    struct Row {
        let name: String
        let count: Int
        let seconds: Double
        var latency: Histogram<UInt64>?
        var notes = ""
        var rate: Double { Double(count) / seconds }
    }

    /// User and system CPU time of this process so far.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func format(micros: UInt64) -> String {
        micros >= 1000 ? String(format: "%.1f ms", Double(micros) / 1000) : "\(micros) us"
    }

    // MARK: raw libzmq

    static func rawPushPull(messages: Int, size: Int) throws -> Double {
        let context = Context()
        let pull = try context.socket(.pull)
        try pull.bind("tcp://127.0.0.1:*")
        let endpoint = pull.lastEndpoint
        let push = try context.socket(.push)
        try push.connect(endpoint)
        let message = [UInt8](repeating: 7, count: size)
        let start = Date()
        let sender = Thread {
            for _ in 0..<messages { try! push.send(message) }
        }
        sender.start()
        for _ in 0..<messages { _ = try pull.receive() }
        return Date().timeIntervalSince(start)
    }

    // MARK: wzt ingress

    /// Who the bench's screening requests come from, as a VDAB system would say.
    static let counsellor = Actor(id: "counsellor-0017", role: "vdab-counsellor", agency: "vdab")

    static func sampleEnvelope(id: String, caseID: String? = nil) throws -> [UInt8] {
        let request = ScreeningRequested(caseID: caseID ?? "case-\(id.suffix(8))", insz: try INSZ("85073003328"), region: "flanders",
                                         requestedBy: .counsellor, requestedOn: CalendarDate("2026-11-23")!, office: "VDAB Gent Centrum", counsellorID: "counsellor-0017")
        return try EnvelopeEncoder.envelope(request, source: "/agency/vdab/intake", subject: request.caseID, id: id, correlationID: id,
                                            actor: counsellor, purpose: .activationTrajectory)
    }

    static func withNode<T>(security: TransportSecurity? = nil, sealing: Bool = true, log: ModuleStorage = .sqlite, _ body: (Node) async throws -> T) async throws -> T {
        let directory = NSTemporaryDirectory() + "wzt-bench-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = NodeConfiguration()
        configuration.dataDirectory = directory
        configuration.transport = TransportConfiguration(ingressEndpoint: "tcp://127.0.0.1:*", egressEndpoint: "tcp://127.0.0.1:*", replayEndpoint: "tcp://127.0.0.1:*")
        configuration.transport.security = security
        configuration.sealsPersonalFields = sealing
        configuration.logStorage = log
        configuration.http = nil
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let node = try await Node(configuration: configuration, modules: [], logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await node.run(signals: []) }
            let result = try await body(node)
            node.triggerShutdown()
            try await tasks.waitForAll()
            return result
        }
    }

    static func ingress(name: String, publishers: Int, window: Int, events: Int, curve: Bool = false, sealing: Bool = true, eventsPerCase: Int = 1,
                        log: ModuleStorage = .sqlite) async throws -> Row {
        let server = try CurveKeyPair.generate(), client = try CurveKeyPair.generate()
        let security = curve ? TransportSecurity(keys: server, clients: [.init(name: "bench", publicKey: client.publicKey, events: [try EventPattern("*")])]) : nil
        let credentials = curve ? CurveCredentials(keys: client, serverKey: server.publicKey) : nil
        return try await withNode(security: security, sealing: sealing, log: log) { node in
            let endpoint = node.ingress.endpoint
            let perPublisher = events / publishers
            // Envelopes are made before the clock starts: the row measures the bus, not the encoder.
            let batches = try (0..<publishers).map { publisher in
                try (0..<perPublisher).map { index in
                    let id = EventID.make()
                    return (id, try sampleEnvelope(id: id, caseID: eventsPerCase == 1 ? nil : "case-\(publisher)-\(index / eventsPerCase)"))
                }
            }
            let context = Context()
            let started = Date()
            let cpuBefore = processCPUSeconds()
            let histograms = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
                for batch in batches {
                    group.addTask { try await onOwnThread { try publish(batch, to: endpoint, curve: credentials, context: context, window: window) } }
                }
                return try await group.reduce(into: [Histogram<UInt64>]()) { $0.append($1) }
            }
            let seconds = Date().timeIntervalSince(started)
            let cpu = processCPUSeconds() - cpuBefore
            var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000)
            for histogram in histograms { latency.add(histogram) }
            let statistics = node.log.groupCommitStatistics
            var row = Row(name: name, count: perPublisher * publishers, seconds: seconds, latency: latency)
            // CPU of the whole process (node and publishers) per event: less moved by a machine
            // that drifts than events/s, and it says where a difference between rows comes from.
            row.notes = String(format: "%.0f us CPU/event; %d commits, %.0f events/commit, %.1f ms each", cpu / Double(row.count) * 1e6,
                               statistics.commits, statistics.averageGroup, statistics.averageCommitTime / .milliseconds(1))
            return row
        }
    }

    /// Sends every envelope, keeping at most `window` unacked; returns ack latencies in microseconds.
    static func publish(_ batch: [(String, [UInt8])], to endpoint: String, curve: CurveCredentials? = nil, context: Context, window: Int,
                        onSend: (Int) -> Void = { _ in }) throws -> Histogram<UInt64> {
        let socket = try context.socket(.dealer)
        try socket.setHighWaterMarks(send: 1_000_000, receive: 1_000_000)
        try socket.secure(with: curve)
        try socket.connect(endpoint)
        var sentAt: [String: UInt64] = [:]
        sentAt.reserveCapacity(batch.count)
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        var next = 0, acked = 0
        while acked < batch.count {
            while next < batch.count, next - acked < window {
                sentAt[batch[next].0] = DispatchTime.now().uptimeNanoseconds
                onSend(next)
                try socket.send(batch[next].1)
                next += 1
            }
            // Wait for acks only when nothing more may be sent; never spin.
            let canSend = next < batch.count && next - acked < window
            var poller = Poller([.socket(socket)])
            guard try poller.poll(timeoutMilliseconds: canSend ? 0 : 10_000)[0] || canSend else {
                throw BenchFailure("no ack within 10 s after \(acked) of \(batch.count)")
            }
            while let frames = try socket.receive(dontWait: true) {
                // The harness shares the two cores with the node: read the reply without a JSON decoder.
                guard let id = ackedID(frames[0]), let sent = sentAt[id] else {
                    throw BenchFailure("unexpected reply: \(String(decoding: frames[0], as: UTF8.self))")
                }
                _ = histogram.record((DispatchTime.now().uptimeNanoseconds - sent) / 1000)
                acked += 1
            }
        }
        return histogram
    }

    /// The id of an ack reply (`{"status":"ack","id":"…",…}`), nil for anything else.
    static func ackedID(_ frame: [UInt8]) -> String? {
        let ackPrefix = Array(#"{"status":"ack","id":""#.utf8)
        guard frame.starts(with: ackPrefix) else { return nil }
        let rest = frame[ackPrefix.count...]
        guard let end = rest.firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return String(decoding: rest[..<end], as: UTF8.self)
    }

    // MARK: to a module's state change

    /// Screenings from an external publisher until the intake module has applied each (seen as the
    /// case-status-changed it publishes, on the live feed): intake in the core's process, or in a
    /// module process over the link. Latency is publish to that reaction.
    static func reactions(name: String, events: Int, remote: Bool, curve: Bool, storage: ModuleStorage = .sqlite, linkDelayMilliseconds: Double? = nil) async throws -> Row {
        let directory = NSTemporaryDirectory() + "wzt-bench-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try CurveKeyPair.generate(), publisher = try CurveKeyPair.generate(), moduleKeys = try CurveKeyPair.generate()
        var configuration = NodeConfiguration()
        configuration.dataDirectory = directory + "/core"
        configuration.transport = TransportConfiguration(ingressEndpoint: "tcp://127.0.0.1:*", egressEndpoint: "tcp://127.0.0.1:*", replayEndpoint: "tcp://127.0.0.1:*")
        configuration.transport.linkEndpoint = "tcp://127.0.0.1:*"
        if curve {
            configuration.transport.security = TransportSecurity(keys: server, clients: [
                .init(name: "bench", publicKey: publisher.publicKey, events: [.all]),
                .init(name: "vdab", publicKey: moduleKeys.publicKey, events: [try EventPattern("be.wzt.intake.*")], modules: ["intake"]),
            ])
        }
        configuration.http = nil
        configuration.defaultStorage = storage
        configuration.remoteModules = remote ? ["intake"] : []
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let intake = ModuleCatalog.modules["intake"]!(configuration)
        let node = try await Node(configuration: configuration, modules: remote ? [] : [intake], remote: remote ? [intake] : [], logger: logger)
        var moduleConfiguration = configuration
        moduleConfiguration.dataDirectory = directory + "/vdab"
        var linkEndpoint = node.link?.endpoint ?? ""
        let proxy = try linkDelayMilliseconds.map { try delayProxy(to: linkEndpoint, milliseconds: $0) }
        defer {
            try? proxy?.input.fileHandleForWriting.close()
            proxy?.process.waitUntilExit()
        }
        if let proxy { linkEndpoint = proxy.endpoint }
        let process = try await remote ? ModuleProcess(configuration: moduleConfiguration, core: CoreConnection(
            endpoint: linkEndpoint, curve: curve ? CurveCredentials(keys: moduleKeys, serverKey: server.publicKey) : nil), modules: [intake], logger: logger) : nil
        let credentials = curve ? CurveCredentials(keys: publisher, serverKey: server.publicKey) : nil

        let probes = 200
        // Case ids of this run only: a PostgreSQL schema outlives the run.
        let run = UUID().uuidString.prefix(8)
        let caseID: @Sendable (Int) -> String = { "case-\(run)-\($0)" }
        let batch = try (0..<(events + probes)).map { number in
            let id = EventID.make()
            let request = ScreeningRequested(caseID: caseID(number), insz: try INSZ("85073003328"), region: "flanders", requestedBy: .counsellor,
                                             requestedOn: CalendarDate("2026-11-23")!, office: "VDAB Gent Centrum", counsellorID: "counsellor-0017")
            return (id, try EnvelopeEncoder.envelope(request, source: "/agency/vdab/intake", subject: request.caseID, id: id,
                                                     actor: counsellor, purpose: .activationTrajectory))
        }
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await node.run(signals: []) }
            if let process { tasks.addTask { try await process.run(signals: []) } }
            let context = Context()
            let sentAt = NIOLockedValueBox<[String: UInt64]>([:])
            let feed = try context.socket(.sub)
            try feed.setHighWaterMarks(send: 1000, receive: 1_000_000)
            try feed.secure(with: credentials)
            try feed.subscribe(CaseStatusChanged.eventType.rawValue)
            try feed.connect(node.egress.endpoint)
            try await Task.sleep(for: .milliseconds(500))
            let endpoint = node.ingress.endpoint
            let started = Date()
            let watcher = Task { try await onOwnThread { () throws -> Histogram<UInt64> in
                var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000)
                var seen = 0
                try feed.setReceiveTimeout(milliseconds: 30_000)
                while seen < events {
                    guard let frames = try feed.receive(), frames.count == 3 else { throw BenchFailure("no reaction within 30 s after \(seen) of \(events)") }
                    // Read with the envelope's scan: the watcher shares the two cores with what it measures.
                    guard let subject = EnvelopeScan.text("subject", of: frames[2]), let sent = sentAt.withLockedValue({ $0[subject] }) else { continue }
                    _ = latency.record((DispatchTime.now().uptimeNanoseconds - sent) / 1000)
                    seen += 1
                }
                return latency
            } }
            _ = try await onOwnThread {
                try publish(Array(batch[..<events]), to: endpoint, curve: credentials, context: context, window: 64) { id in
                    sentAt.withLockedValue { $0[caseID(id)] = DispatchTime.now().uptimeNanoseconds }
                }
            }
            let ingestSeconds = Date().timeIntervalSince(started)
            _ = try await watcher.value
            let seconds = Date().timeIntervalSince(started)
            // Latency without a queue: one screening at a time, the next once the module reacted.
            let latency = try await onOwnThread { () throws -> Histogram<UInt64> in
                let socket = try context.socket(.dealer)
                try socket.secure(with: credentials)
                try socket.setReceiveTimeout(milliseconds: 10_000)
                try socket.connect(endpoint)
                var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000)
                for (number, (_, json)) in batch[events...].enumerated() {
                    let started = DispatchTime.now().uptimeNanoseconds
                    try socket.send(json)
                    guard try socket.receive() != nil else { throw BenchFailure("no ack within 10 s") }
                    while true {
                        guard let frames = try feed.receive(), frames.count == 3 else { throw BenchFailure("no reaction within 30 s") }
                        if EnvelopeScan.text("subject", of: frames[2]) == caseID(events + number) { break }
                    }
                    _ = latency.record((DispatchTime.now().uptimeNanoseconds - started) / 1000)
                }
                socket.close()
                return latency
            }
            feed.close()
            process?.triggerShutdown()
            node.triggerShutdown()
            try await tasks.waitForAll()
            var row = Row(name: name, count: events, seconds: seconds, latency: latency)
            // Applying ends after ingesting, so the ratio is at most 1: 1 means the module kept up.
            row.notes = String(format: "applied/ingested %.2f (ingest %.0f/s); latency: publish to the module's reaction, one at a time",
                               ingestSeconds / seconds, Double(events) / ingestSeconds)
            return row
        }
    }

    // MARK: the parts of the ingress path

    static func validation(events: Int) throws -> Row {
        let decoder = EnvelopeDecoder(registry: try ContractRegistry(ModuleCatalog.contracts))
        let envelopes = try (0..<events).map { _ in try sampleEnvelope(id: EventID.make()) }
        let started = Date()
        let cpuBefore = processCPUSeconds()
        for envelope in envelopes { _ = try decoder.decode(envelope) }
        let cpu = processCPUSeconds() - cpuBefore
        var row = Row(name: "envelope validation alone, one thread", count: events, seconds: Date().timeIntervalSince(started))
        // CPU time too: on a shared virtual machine the wall time of one run moves by a third.
        row.notes = String(format: "syntax check, attributes, contract decode; %.2f us CPU each", cpu * 1e6 / Double(events))
        return row
    }

    /// Runs `body` with a fresh event log in a temporary directory.
    static func withTemporaryLog<T>(_ body: (EventLog) async throws -> T) async throws -> T {
        let directory = NSTemporaryDirectory() + "wzt-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try EventLog(path: directory + "/log.sqlite")
        defer { log.close() }
        return try await body(log)
    }

    static func appendOnly(events: Int) async throws -> Row {
        try await withTemporaryLog { log in try await appendOnly(events: events, log: log) }
    }

    static func appendOnly(events: Int, log: EventLog) async throws -> Row {
        let decoder = EnvelopeDecoder(registry: try ContractRegistry(ModuleCatalog.contracts))
        let envelopes = try (0..<events).map { _ in try decoder.decode(sampleEnvelope(id: EventID.make())) }
        let started = Date()
        for start in stride(from: 0, to: events, by: 256) {
            _ = try await log.append(Array(envelopes[start..<min(events, start + 256)]))
        }
        var row = Row(name: "log append alone, batches of 256, fsync each", count: events, seconds: Date().timeIntervalSince(started))
        row.notes = "SQLite WAL, synchronous=FULL"
        return row
    }

    // MARK: in-process dispatch

    static func dispatch(events: Int) async throws -> Row {
        try await withTemporaryLog { log in try await dispatch(events: events, log: log) }
    }

    static func dispatch(events: Int, log: EventLog) async throws -> Row {
        let decoder = EnvelopeDecoder(registry: try ContractRegistry(ModuleCatalog.contracts))
        for start in stride(from: 0, to: events, by: 5000) {
            let envelopes = try (start..<min(events, start + 5000)).map { _ in try decoder.decode(sampleEnvelope(id: EventID.make())) }
            _ = try await log.append(envelopes)
        }
        let counter = CountingSubscriber()
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let dispatcher = Dispatcher(log: log, subscriber: counter, configuration: .init(batchSize: 2048), logger: logger)
        let started = Date()
        let task = Task { try await dispatcher.run() }
        while counter.count.load(ordering: .relaxed) < events { try await Task.sleep(for: .milliseconds(1)) }
        let seconds = Date().timeIntervalSince(started)
        task.cancel()
        _ = try? await task.value
        var row = Row(name: "in-process dispatch, log -> subscriber", count: events, seconds: seconds)
        row.notes = "reads from SQLite, batches of 2048, cursor saved per batch"
        return row
    }
}

final class CountingSubscriber: Subscriber {
    let subscriptionName = "bench"
    let patterns: [EventPattern] = [.all]
    let count = Atomic<Int>(0)
    func deliver(_ event: StoredEvent) async throws { count.add(1, ordering: .relaxed) }

    func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery {
        count.add(events.count, ordering: .relaxed)
        return BatchDelivery(applied: events.count)
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}


extension String {
    func leftPad(_ width: Int) -> String { count >= width ? " " + self : String(repeating: " ", count: width - count) + self }
}
