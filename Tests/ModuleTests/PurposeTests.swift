import Bus
import Foundation
import GRDB
import IntakeContracts
import Logging
import MandatingContracts
import ModuleKit
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import Storage
import NetworksContracts
import Notifications
import PluginAPI
import TestSupport
import Testing

/// The notifications module's needs, hosted like any module, recording what the bus hands it.
final class RecordingModule: Module {
    let name = "recorder"
    let contracts: [any EventContract.Type] = []
    let needs: [Need]
    let received = NIOLockedValueBox<[[UInt8]]>([])

    init(needs: [Need]) { self.needs = needs }

    func registerMigrations(_ migrator: inout SQLMigrations) {}

    func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws {
        received.withLockedValue { $0.append(event.json) }
    }
}

@Suite(.timeLimit(.minutes(1)))
struct PurposeTests {
    static let decoder = EnvelopeDecoder(registry: try! ContractRegistry(IntakeContracts.all + MandatingContracts.all + NetworksContracts.all))

    /// `data` as a publisher might send it: the contract's fields and whatever else it put in.
    func envelope<T: EventContract>(_ data: T, subject: String, adding extra: [String: Any]) throws -> Envelope {
        var object = try JSONSerialization.jsonObject(with: Data(EnvelopeEncoder.envelope(data, source: "/agency/vdab", subject: subject))) as! [String: Any]
        object["data"] = (object["data"] as! [String: Any]).merging(extra) { _, added in added }
        return try Self.decoder.decode(Array(try JSONSerialization.data(withJSONObject: object)))
    }

    @Test func notificationsNeverReceiveINSZOrHealthFieldsEvenWhenThePublisherSentThem() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let module = RecordingModule(needs: NotificationsModule(configuration: .init()).needs)
        let store = try ModuleStore(module: module, path: directory.file("recorder.sqlite"))
        let host = ModuleHost(module: module, store: store, log: log, decoder: Self.decoder, rules: Samples.noRules, logger: Logger(label: "test"))
        let day = CalendarDate("2026-03-02")!
        let personal: [String: Any] = ["insz": "85073003328", "diagnosis": "major depressive disorder", "healthNotes": "psychiatric admission in 2025"]
        let events = [
            try envelope(TrajectoryLimitReached(caseId: "case-1", limitOn: day, casemanagerWerkId: "cm-w", casemanagerZorgId: "cm-z"),
                         subject: "case-1", adding: personal),
            try envelope(MandateStatusChanged(applicationId: "app-1", organisationId: "org-1", region: "flanders", werkingsgebied: "gent",
                                              status: .refused, on: day, ruleSet: "flanders-2022", reason: "coordinator on sick leave (burn-out)"),
                         subject: "app-1", adding: personal),
            try envelope(ReferralOutcome(referralId: "ref-1", networkId: "net-1", caseId: "case-2", outcome: .waitlisted, on: day, position: 3,
                                         reason: "needs psychiatric follow-up first"), subject: "case-2", adding: personal),
            // Not a notice: never delivered at all.
            try envelope(ScreeningRequested(caseID: "case-3", insz: try INSZ("85.07.30-033.28"), region: "flanders", requestedBy: .counsellor,
                                            requestedOn: day, office: "Gent", counsellorID: "c-1"), subject: "case-3", adding: [:]),
        ]
        try await withServices([host]) {
            _ = try await log.append(events)
            #expect(await eventually { try log.cursor("recorder") == log.headOffset })
        }
        let received = try module.received.withLockedValue { $0 }.map { try #require(try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]) }
        #expect(received.map { $0["subject"] as? String } == ["case-1", "app-1", "case-2"])
        #expect(received.map { ($0["data"] as? [String: Any]).map { Set($0.keys) } } == [
            ["caseId", "limitOn"],
            ["applicationId", "organisationId", "region", "werkingsgebied", "status", "on", "ruleSet"],
            ["referralId", "networkId", "caseId", "outcome", "on"],
        ])
        for event in received {
            let text = String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self)
            for word in ["85073003328", "insz", "diagnosis", "depressive", "psychiatric", "burn-out", "cm-w", "cm-z"] {
                #expect(!text.contains(word), "\(word) in \(text)")
            }
        }
        // The log keeps what was published; only the delivery is narrowed.
        #expect(try log.eventsNow(after: 0).contains { String(decoding: $0.json, as: UTF8.self).contains("depressive") })
    }
}
