import Bus
import Core
import Foundation
import Intake
import IntakeContracts
import Logging
import ModuleKit
import PluginAPI
import Storage
import TestSupport
import Testing

/// A rebuild replays what the live module applied, and leaves what it had not applied yet to live
/// delivery: only live delivery publishes what those events cause.
@Suite(.timeLimit(.minutes(1)))
struct RebuildTests {
    let decoder = EnvelopeDecoder(registry: try! ContractRegistry(ModuleCatalog.contracts))
    let rules = try! RuleBook(PluginLoader.builtIn.flatMap(\.ruleSets))

    func request(_ caseID: String) throws -> Envelope {
        try decoder.decode(EnvelopeEncoder.envelope(
            ScreeningRequested(caseID: caseID, insz: try INSZ("85073003328"), region: "flanders", requestedBy: .jobSeeker,
                               requestedOn: CalendarDate("2026-11-23")!, office: "Gent"),
            source: "/agency/vdab", subject: caseID, actor: Actor(id: "c-17", role: "vdab-counsellor", agency: "vdab"), purpose: .activationTrajectory))
    }

    /// How many `requested` statuses the log holds for each case.
    func requestedStatuses(_ log: EventLog) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for event in try await log.events(after: 0, matching: [EventPattern(exactly: CaseStatusChanged.eventType)]) {
            let data = (try JSONSerialization.jsonObject(with: Data(event.json)) as? [String: Any])?["data"] as? [String: Any]
            if data?["status"] as? String == "requested", let caseID = data?["caseId"] as? String { counts[caseID, default: 0] += 1 }
        }
        return counts
    }

    @Test func aModuleThatWasBehindIsRebuiltThroughWhatItAppliedAndCatchesUpLive() async throws {
        let directory = TemporaryDirectory("wzt-rebuild-behind")
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let store = try ModuleStore(module: IntakeModule(), path: directory.file("intake.sqlite"))
        try await withServices([ModuleHost(module: IntakeModule(), store: store, log: log, decoder: decoder, rules: rules, logger: logger)]) {
            _ = try await log.append([try request("case-1"), try request("case-2")])
            #expect(await eventually { (try? log.cursor("intake")) == log.headOffset && log.headOffset == 4 })
        }
        // Intake is stopped; two more requests arrive. And its outbox still held an event its relay had not handed on.
        let late = try await log.append([try request("case-3"), try request("case-4")])
        let unrelayed = try decoder.decode(EnvelopeEncoder.envelope(CaseStatusChanged(caseId: "case-0", status: .requested, on: CalendarDate("2026-11-23")!), source: "/wzt/intake", subject: "case-0"))
        try await store.database.write { db in
            try db.execute(sql: "INSERT INTO wzt_outbox (event_id, envelope) VALUES (?, ?)", arguments: [unrelayed.id, Data(unrelayed.json)])
        }

        let rebuiltStore = try ModuleStore(module: IntakeModule(), path: directory.file("intake-rebuilt.sqlite"))
        let report = try await ModuleRebuild(module: IntakeModule(), log: log, decoder: decoder, rules: rules).replay(into: rebuiltStore, keepingFrom: store)
        #expect(report.head == 4 && report.delivered == 2, "only what intake applied: \(report)")
        #expect(late.map(\.offset).allSatisfy { $0 > report.head })
        try await log.saveCursor("intake", offset: report.head)
        let outbox = try await rebuiltStore.database.read { db in try String.fetchAll(db, sql: "SELECT event_id FROM wzt_outbox") }
        #expect(outbox == [unrelayed.id])

        // Live delivery applies the two it had not, and publishes what they cause; the outbox is handed on.
        try await withServices([ModuleHost(module: IntakeModule(), store: rebuiltStore, log: log, decoder: decoder, rules: rules, logger: logger)]) {
            let expected = ["case-0": 1, "case-1": 1, "case-2": 1, "case-3": 1, "case-4": 1]
            var statuses: [String: Int] = [:]
            for _ in 0..<200 where statuses != expected {
                try await Task.sleep(for: .milliseconds(50))
                statuses = try await requestedStatuses(log)
            }
            #expect(statuses == expected)
        }
        let cases = try await rebuiltStore.database.read { db in try String.fetchAll(db, sql: "SELECT id FROM intake_case ORDER BY id") }
        #expect(cases == ["case-1", "case-2", "case-3", "case-4"])
    }
}
