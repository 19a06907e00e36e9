import AMAContracts
import Bus
import Foundation
import IntakeContracts
import Logging
import MandatingContracts
import ModuleKit
import Storage
import NetworksContracts
@testable import Notifications
import PluginAPI
import TestSupport
import Testing

/// What the notifications module records for each event: one thin notice per listening channel,
/// none for events nobody must hear about, and nothing personal whatever the event carries.
@Suite(.timeLimit(.minutes(1)))
struct NoticeTests {
    static let registry = try! ContractRegistry(IntakeContracts.all + MandatingContracts.all + NetworksContracts.all + AMAContracts.all)
    static let decoder = EnvelopeDecoder(registry: registry)

    func envelope<T: EventContract>(_ data: T, subject: String) throws -> Envelope {
        try Self.decoder.decode(try EnvelopeEncoder.envelope(data, source: "/test", subject: subject))
    }

    @Test func eachNotableEventBecomesOneThinNoticePerListeningChannel() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        var configuration = NotificationsConfiguration()
        // Nobody listens on port 9: deliveries fail, which does not matter here.
        configuration.maxAttempts = 1
        configuration.channels = [
            Channel(name: "everything", kind: .webhook(url: "http://127.0.0.1:9/", secret: "k"), events: [.all]),
            Channel(name: "mandates", kind: .email(host: "127.0.0.1", port: 9, from: "wzt@zorg.example", to: ["m@zorg.example"]),
                    events: [try EventPattern("be.wzt.mandating.*")]),
        ]
        let module = NotificationsModule(configuration: configuration)
        let store = try ModuleStore(module: module, path: directory.file("notifications.sqlite"))
        let host = ModuleHost(module: module, store: store, log: log, decoder: Self.decoder, rules: Samples.noRules, logger: Logger(label: "test"))
        let day = CalendarDate("2026-03-02")!
        let events = [
            try envelope(TrajectoryLimitReached(caseId: "case-1", limitOn: day, casemanagerWerkId: "cm-w", casemanagerZorgId: nil), subject: "case-1"),
            try envelope(MandateStatusChanged(applicationId: "app-1", organisationId: "org-1", region: "flanders", werkingsgebied: "gent",
                                              status: .applied, on: day, ruleSet: "flanders-2022"), subject: "app-1"),
            try envelope(MandateStatusChanged(applicationId: "app-1", organisationId: "org-1", region: "flanders", werkingsgebied: "gent",
                                              status: .refused, on: day, ruleSet: "flanders-2022", reason: "Dr. X: burn-out of the coordinator"), subject: "app-1"),
            try envelope(DecisionOverdue(applicationId: "app-2", decision: .merits, dueOn: day), subject: "app-2"),
            try envelope(ReferralOutcome(referralId: "ref-1", networkId: "net-1", caseId: "case-2", outcome: .waitlisted, on: day, position: 3,
                                         reason: "psychiatric history"), subject: "case-2"),
            try envelope(AgreementStatusChanged(agreementId: "agr-1", status: .active, annexVersion: 1, awaiting: [], on: day, ruleSet: "flanders-2022"),
                         subject: "agr-1"),
            try envelope(PermissionDeadline(agreementId: "agr-1", stage: .renewalDue, validUntil: day), subject: "agr-1"),
            try envelope(AgreementEnded(agreementId: "agr-2", endedOn: day, reason: .terminatedByParticipant, ruleSet: "flanders-2022"), subject: "agr-2"),
        ]
        try await withServices([host]) {
            _ = try await log.append(events)
            #expect(await eventually { try log.cursor("notifications") == log.headOffset })
        }
        let notices = try await NotificationsQueries(database: store.database).all()
        let everything = notices.filter { $0.channel == "everything" }.map { "\($0.reference): \($0.what)" }
        #expect(everything == [
            "case-1: The trajectory reached its time limit on 2026-03-02.",
            "app-1: A mandate application was decided: refused on 2026-03-02.",
            "app-2: The merits decision on a mandate application was due on 2026-03-02 and is overdue.",
            "case-2: A referral to network net-1 was waitlisted on 2026-03-02.",
            "agr-1: The yearly AMA permission runs until 2026-03-02 and is due for renewal.",
            "agr-2: An AMA agreement ended on 2026-03-02 (terminated-by-participant).",
        ])
        #expect(notices.filter { $0.channel == "mandates" }.map(\.reference) == ["app-1", "app-2"])
        for notice in notices {
            #expect(!notice.what.contains("burn-out") && !notice.what.contains("psychiatric") && !notice.what.contains("cm-w"), "\(notice.what)")
        }
    }

    @Test func retriesWaitLongerEachTimeUpToAnHour() {
        var configuration = NotificationsConfiguration()
        configuration.firstRetryDelay = .seconds(5)
        #expect((1...4).map { configuration.retryDelay(afterAttempt: $0) } == [.seconds(5), .seconds(10), .seconds(20), .seconds(40)])
        #expect(configuration.retryDelay(afterAttempt: 30) == .seconds(3600))
    }
}

@Suite struct SMTPTests {
    @Test func linesEndInCRLFAndALeadingDotIsDoubled() {
        #expect(SMTPClient.dotStuffed("Subject: x\n\n.hidden\nlast\r\n.") == "Subject: x\r\n\r\n..hidden\r\nlast\r\n..")
    }
}
