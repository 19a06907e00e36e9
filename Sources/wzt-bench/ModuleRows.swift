import Bus
import BusTransport
import Core
import Foundation
import Histogram
import IntakeContracts
import Logging
import ModuleKit
import PluginAPI
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import ZeroMQ

/// The rows about modules keeping up with the bus: latency at a fixed offered rate, and how fast
/// intake works off a backlog (a module added later, and `wzt modules rebuild`).
extension Bench {
    /// A node with intake in-process, for the rows below.
    static func intakeNodeConfiguration(_ directory: String) -> NodeConfiguration {
        var configuration = NodeConfiguration()
        configuration.dataDirectory = directory
        configuration.transport = TransportConfiguration(ingressEndpoint: "tcp://127.0.0.1:*", egressEndpoint: "tcp://127.0.0.1:*", replayEndpoint: "tcp://127.0.0.1:*")
        configuration.http = nil
        return configuration
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return logger
    }

    static func screening(case caseID: String, id: String = EventID.make()) throws -> [UInt8] {
        let request = ScreeningRequested(caseID: caseID, insz: try INSZ("85073003328"), region: "flanders", requestedBy: .counsellor,
                                         requestedOn: CalendarDate("2026-11-23")!, office: "VDAB Gent Centrum", counsellorID: "counsellor-0017")
        return try EnvelopeEncoder.envelope(request, source: "/agency/vdab/intake", subject: caseID, id: id, actor: counsellor, purpose: .activationTrajectory)
    }

    /// Open loop: screenings for new cases sent on a fixed schedule (`rate` a second for `seconds`),
    /// whatever the acks and the module do, as live traffic arrives; latency is each publish to
    /// intake's `case-status-changed` for that case on the live feed. A module that cannot keep up
    /// shows as latency that grows with the run, and as reactions missing at the end.
    static func openLoop(rate: Int, seconds: Int) async throws -> Row {
        let directory = NSTemporaryDirectory() + "wzt-bench-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = intakeNodeConfiguration(directory)
        let intake = ModuleCatalog.modules["intake"]!(configuration)
        let node = try await Node(configuration: configuration, modules: [intake], logger: quietLogger)
        let events = rate * seconds
        let run = UUID().uuidString.prefix(8)
        let envelopes = try (0..<events).map { try screening(case: "case-\(run)-\($0)") }
        let sentAt = NIOLockedValueBox<[String: UInt64]>([:])
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await node.run(signals: []) }
            let context = Context()
            let feed = try context.socket(.sub)
            try feed.setHighWaterMarks(send: 1000, receive: 1_000_000)
            try feed.subscribe(CaseStatusChanged.eventType.rawValue)
            try feed.connect(node.egress.endpoint)
            try await Task.sleep(for: .milliseconds(500))
            let watcher = Task { try await onOwnThread { () throws -> (Histogram<UInt64>, Int) in
                var latency = Histogram<UInt64>(highestTrackableValue: 120_000_000)
                var seen = 0
                // Waits until every reaction came, or none came for 15 s.
                try feed.setReceiveTimeout(milliseconds: 15_000)
                while seen < events, let frames = try feed.receive() {
                    guard frames.count == 3, let subject = EnvelopeScan.text("subject", of: frames[2]), let sent = sentAt.withLockedValue({ $0[subject] }) else { continue }
                    _ = latency.record((DispatchTime.now().uptimeNanoseconds - sent) / 1000)
                    seen += 1
                }
                return (latency, seen)
            } }
            let endpoint = node.ingress.endpoint
            let lateSends = try await onOwnThread { () throws -> Int in
                let socket = try context.socket(.dealer)
                try socket.setHighWaterMarks(send: 1_000_000, receive: 1_000_000)
                try socket.connect(endpoint)
                defer { socket.close() }
                let interval = 1_000_000_000 / UInt64(rate)
                let start = DispatchTime.now().uptimeNanoseconds
                var late = 0
                for (number, envelope) in envelopes.enumerated() {
                    let due = start + UInt64(number) * interval
                    var now = DispatchTime.now().uptimeNanoseconds
                    if now < due {
                        usleep(UInt32((due - now) / 1000))
                        now = DispatchTime.now().uptimeNanoseconds
                    } else if now - due > 1_000_000 {
                        late += 1
                    }
                    sentAt.withLockedValue { $0["case-\(run)-\(number)"] = now }
                    try socket.send(envelope)
                    // Acks are read as they come and not waited for: the schedule is the offered load.
                    while try socket.receive(dontWait: true) != nil {}
                }
                return late
            }
            let (latency, seen) = try await watcher.value
            feed.close()
            node.triggerShutdown()
            try await tasks.waitForAll()
            var row = Row(name: "open loop \(rate)/s -> intake reaction, in-process", count: seen, seconds: Double(seconds), latency: latency)
            row.notes = "\(seen) of \(events) reactions\(seen < events ? " (fell behind)" : ""); latency: publish to reaction at a fixed offered rate"
                + (lateSends > 0 ? "; \(lateSends) sends over 1 ms late" : "")
            return row
        }
    }

    /// A log of `events` screenings for new cases that intake has not seen, then: intake started
    /// on it (a module added later, or back after an outage), timed until it applied the last;
    /// and `ModuleRebuild` (what `wzt modules rebuild` runs) replaying the log into a new database.
    static func backlog(events: Int) async throws -> [Row] {
        let directory = NSTemporaryDirectory() + "wzt-bench-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let configuration = intakeNodeConfiguration(directory)
        let intake = ModuleCatalog.modules["intake"]!(configuration)
        let decoder = EnvelopeDecoder(registry: try ContractRegistry(ModuleCatalog.contracts + intake.contracts))
        let filled = Date()
        do {
            let log = try EventLog(path: configuration.logPath)
            defer { log.close() }
            for start in stride(from: 0, to: events, by: 5000) {
                _ = try await log.append(try (start..<min(events, start + 5000)).map { try decoder.decode(screening(case: "case-\($0)")) })
            }
        }
        let fillSeconds = Date().timeIntervalSince(filled)

        let node = try await Node(configuration: configuration, modules: [intake], logger: quietLogger)
        let caughtUp = try await withThrowingTaskGroup(of: Void.self) { tasks in
            let started = Date()
            tasks.addTask { try await node.run(signals: []) }
            while try await node.log.cursor(intake.name) < Int64(events) { try await Task.sleep(for: .milliseconds(20)) }
            let seconds = Date().timeIntervalSince(started)
            node.triggerShutdown()
            try await tasks.waitForAll()
            return seconds
        }
        var catchUp = Row(name: "intake catching up a backlog, in-process", count: events, seconds: caughtUp)
        catchUp.notes = String(format: "log filled first (%.0f events/s, appends of 5,000); node start included", Double(events) / fillSeconds)

        let log = try EventLog(path: configuration.logPath)
        defer { log.close() }
        let (rules, _) = try PluginLoader.ruleBook(configuration, logger: quietLogger)
        let store = try ModuleStore(module: intake, path: directory + "/rebuilt.sqlite")
        let started = Date()
        let report = try await ModuleRebuild(module: intake, log: log, decoder: decoder, rules: rules).replay(into: store, keepingFrom: nil)
        var rebuild = Row(name: "intake rebuilt from the log (wzt modules rebuild)", count: report.delivered, seconds: Date().timeIntervalSince(started))
        rebuild.notes = "\(report.head) events in the log, \(report.delivered) taken by intake\(report.failed.isEmpty ? "" : ", \(report.failed.count) failed")"
        return [catchUp, rebuild]
    }
}
