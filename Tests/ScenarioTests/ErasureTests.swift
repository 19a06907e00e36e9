import Bus
import Core
import Foundation
import GRDB
import Intake
import IntakeContracts
import Logging
import ModuleKit
import Storage
import PluginAPI
import TestSupport
import Testing

/// The log keeps personal fields sealed with their subject's key; erasing a subject deletes the
/// key, so its personal fields read as erased in every replay, while everything else stays.
@Suite(.timeLimit(.minutes(1)))
struct ErasureTests {
    static let insz = ["case-1": "85073003328", "case-2": "90010100123"]
    /// A subject that only some tests use.
    static let laterINSZ = ["case-3": "79120412345"]
    let registry = try! ContractRegistry(ModuleCatalog.contracts)
    var decoder: EnvelopeDecoder { EnvelopeDecoder(registry: registry) }
    let rules = try! RuleBook(PluginLoader.builtIn.flatMap(\.ruleSets))

    func envelope<T: EventContract>(_ data: T, subject: String) throws -> Envelope {
        try decoder.decode(EnvelopeEncoder.envelope(data, source: "/agency/vdab", subject: subject, actor: Actor(id: "c-17", role: "vdab-counsellor", agency: "vdab"),
                                                    purpose: .activationTrajectory))
    }

    /// Every row of intake's own tables (not the inbox, outbox and timers of the platform).
    func state(_ store: ModuleStore) throws -> [String: [[String: String]]] {
        try store.database.readNow { db in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'wzt_%' AND name NOT LIKE 'grdb_%' AND name NOT LIKE 'sqlite_%'")
            return try Dictionary(uniqueKeysWithValues: tables.map { table in
                (table, try SQLRow.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1").map { row in
                    Dictionary(uniqueKeysWithValues: zip(row.columnNames, row.values).map { column, value in
                        switch value {
                        case .null: (column, "NULL")
                        case .integer(let integer): (column, "\(integer)")
                        case .real(let real): (column, "\(real)")
                        case .text(let text): (column, text)
                        case .blob(let bytes): (column, "\(bytes.count) bytes")
                        }
                    })
                })
            })
        }
    }

    /// The keys the log file holds for `subject`, in either table.
    func keyCount(_ log: EventLog, _ subject: String) throws -> Int {
        try DatabaseQueue(path: log.location).read { db in
            try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM sealing_keys WHERE subject = ?1) + (SELECT COUNT(*) FROM subject_keys WHERE subject = ?1)",
                             arguments: [subject]) ?? 0
        }
    }

    func fileText(_ path: String) -> String {
        [path, path + "-wal"].compactMap { FileManager.default.contents(atPath: $0) }.map { String(decoding: $0, as: UTF8.self) }.joined()
    }

    @Test func erasingShredsTheSubjectsPersonalFieldsAndAReplayRebuildsTheRest() async throws {
        let directory = TemporaryDirectory("wzt-erasure")
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let store = try ModuleStore(module: IntakeModule(), path: directory.file("intake.sqlite"))
        let intake = ModuleHost(module: IntakeModule(), store: store, log: log, decoder: decoder, rules: rules, logger: logger)
        let eraser = Dispatcher(log: log, subscriber: Eraser(log: log, decoder: decoder), logger: logger)
        let day = CalendarDate("2026-03-02")!
        var events: [Envelope] = []
        for (subject, insz) in Self.insz.sorted(by: { $0.key < $1.key }) {
            events.append(try envelope(ScreeningRequested(caseID: subject, insz: try INSZ(insz), region: "flanders", requestedBy: .counsellor,
                                                          requestedOn: day, office: "Gent", counsellorID: "c-17"), subject: subject))
            events.append(try envelope(ScreeningAdvised(caseId: subject, advice: .beschermd, advisedOn: day, municipality: "Gent"), subject: subject))
        }
        var before: [String: [[String: String]]] = [:]
        try await withServices([intake, eraser]) {
            _ = try await log.append(events)
            #expect(await eventually { (try? log.cursor("intake")) == log.headOffset })
            before = try state(store)
            #expect(before["intake_case"]?.map { $0["insz"] } == ["85073003328", "90010100123"], "intake was handed the numbers")
            // The log never held them in the clear: not in any event, not in the file.
            #expect(!fileText(log.location).contains("85073003328") && !fileText(log.location).contains("90010100123"))

            _ = try await log.append([try decoder.decode(EnvelopeEncoder.envelope(
                ErasureRequested(subject: "case-1", reason: "request of the person"), source: "/operator", subject: "case-1"))])
            #expect(await eventually { (try? log.cursor("intake")) == log.headOffset && (try? log.cursor("privacy")) == log.headOffset })
        }

        // Intake kept the case, its dates and its advice, and forgot the number.
        let after = try state(store)
        var expected = before
        expected["intake_case"] = before["intake_case"]?.map { row in row["id"] == "case-1" ? row.merging(["insz": "erased"]) { $1 } : row }
        #expect(after == expected)
        #expect(try keyCount(log, "case-1") == 0)
        #expect(try keyCount(log, "case-2") == 1)
        let key = try #require(try await DatabaseQueue(path: log.location).read { db in
            try Data.fetchOne(db, sql: "SELECT key FROM sealing_keys WHERE subject = 'case-2'")
        })
        let allEvents = try await log.events(after: 0, limit: 1000).map { String(decoding: $0.json, as: UTF8.self) }.joined()
        #expect(!allEvents.contains(key.base64EncodedString()) && !allEvents.contains(key.map { String(format: "%02x", $0) }.joined()),
                "a key never travels in an event")
        #expect(try log.keys.erased().map(\.subject) == ["case-1"])

        // Read back from the log: case-1's number is erased, case-2's opens, the rest is as published.
        let requests = try await log.events(after: 0, matching: [EventPattern(exactly: ScreeningRequested.eventType)])
        let opened = try requests.map { try decoder.data(ScreeningRequested.self, of: Sealing.open($0.json, id: $0.id, subject: $0.subject, keys: log.keys)) }
        #expect(opened.map(\.insz) == [.erased, .value(try INSZ("90010100123"))])
        #expect(opened.map(\.requestedOn) == [day, day] && opened.map(\.office) == ["Gent", "Gent"])

        // A new intake fed a copy of the log from the start ends where the first one is now.
        log.close()
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: log.location + suffix) {
            try FileManager.default.copyItem(atPath: log.location + suffix, toPath: directory.file("replay.sqlite") + suffix)
        }
        try await DatabaseQueue(path: directory.file("replay.sqlite")).write { db in try db.execute(sql: "DELETE FROM cursors") }
        let replay = try EventLog(path: directory.file("replay.sqlite"))
        defer { replay.close() }
        let rebuiltStore = try ModuleStore(module: IntakeModule(), path: directory.file("intake-rebuilt.sqlite"))
        let rebuilt = ModuleHost(module: IntakeModule(), store: rebuiltStore, log: replay, decoder: decoder, rules: rules, logger: logger)
        try await withServices([rebuilt]) {
            #expect(await eventually { (try? rebuiltStore.database.readNow { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM wzt_inbox") }) == 5 })
        }
        #expect(try state(rebuiltStore) == after)
    }

    @Test func personalDataIsErasedWhenTheRetentionPeriodOfItsPurposeEnds() async throws {
        let directory = TemporaryDirectory("wzt-retention")
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let start = try #require(EventTime.parse("2026-03-02T09:00:00Z"))
        let clock = ManualClock(now: start)
        let store = try ModuleStore(module: IntakeModule(), path: directory.file("intake.sqlite"))
        let intake = ModuleHost(module: IntakeModule(), store: store, log: log, decoder: decoder, rules: rules, clock: clock, logger: logger)
        let eraser = Dispatcher(log: log, subscriber: Eraser(log: log, decoder: decoder), logger: logger)
        let watch = RetentionWatch(log: log, decoder: decoder, periods: [.activationTrajectory: 30], clock: clock, logger: logger)
        func request(_ subject: String, at time: Date) throws -> Envelope {
            try decoder.decode(EnvelopeEncoder.envelope(
                ScreeningRequested(caseID: subject, insz: try INSZ(Self.insz[subject]!), region: "flanders", requestedBy: .jobSeeker,
                                   requestedOn: CalendarDate("2026-03-02")!, office: "Gent"),
                source: "/agency/vdab", subject: subject, time: time, actor: Actor(id: "c-17", role: "vdab-counsellor", agency: "vdab"), purpose: .activationTrajectory))
        }
        let day: TimeInterval = 86_400
        @Sendable func inszOf(_ subject: String) throws -> String? {
            try store.database.readNow { db in try String.fetchOne(db, sql: "SELECT insz FROM intake_case WHERE id = ?", arguments: [subject]) }
        }
        try await withServices([intake, eraser, watch]) {
            _ = try await log.append([try request("case-1", at: start), try request("case-2", at: start.addingTimeInterval(20 * day))])
            #expect(await eventually { (try? inszOf("case-2")) == "90010100123" && (try? log.cursor("retention")) == log.headOffset })

            clock.advance(by: 29 * day)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try keyCount(log, "case-1") == 1, "29 days: not yet")

            clock.advance(by: 2 * day)
            #expect(await eventually { (try? inszOf("case-1")) == "erased" }, "30 days after its last event, case-1 is erased")
            #expect(try keyCount(log, "case-1") == 0)
            #expect(try log.keys.erased().map(\.reason) == ["the retention period for activation-trajectory ended"])
            #expect(try inszOf("case-2") == "90010100123", "case-2's last event is 11 days younger")

            clock.advance(by: 20 * day)
            #expect(await eventually { (try? inszOf("case-2")) == "erased" })
        }
    }

    /// Right of access: after the GBO scenario, case-g is held by intake (its trajectory, with the
    /// INSZ) and by GBO onboarding (its onthaal file and explored rights); the export has both, and
    /// the case's events with the INSZ opened.
    @Test func anExportHoldsWhatEveryModuleKeepsAboutTheSubject() async throws {
        let file = ScenarioTests.directory + "/gbo-onboarding-and-back-to-vdab.json"
        let scenario = try JSONDecoder().decode(Scenario.self, from: Data(contentsOf: URL(filePath: file)))
        let run = try await ScenarioRun(scenario)
        try await withServices(run.hosts) {
            for (index, step) in scenario.steps.enumerated() { try await run.perform(step, number: index + 1) }
        }
        let export = try await PrivacyExport.export(subject: "case-g", log: run.log, modules: run.hosts.map { ($0.module, $0.store) })
        let modules = try #require(export["modules"] as? [String: Any])
        #expect(Set(modules.keys) == ["intake", "gbo-onboarding"], "\(modules.keys)")
        let trajectory = (modules["intake"] as? [String: Any])?["documents"] as? [String: Any]
        #expect((trajectory?["trajectories"] as? [String: Any])?["insz"] as? String == "85073003328")
        let records = (modules["gbo-onboarding"] as? [String: Any])?["records"] as? [String: Any]
        #expect((records?["onthaal_file"] as? [[String: Any]])?.first?["id"] as? String == "onthaal-case-g-2023-09-05", "\(records ?? [:])")
        #expect((records?["right_exploration"] as? [[String: Any]])?.isEmpty == false)
        let events = try #require(export["events"] as? [[String: Any]])
        let request = events.compactMap { $0["envelope"] as? [String: Any] }.first { $0["type"] as? String == ScreeningRequested.eventType.rawValue }
        #expect((request?["data"] as? [String: Any])?["insz"] as? String == "85073003328", "opened, not sealed")
    }

    func screeningRequest(_ subject: String) throws -> Envelope {
        try envelope(ScreeningRequested(caseID: subject, insz: try INSZ((Self.insz[subject] ?? Self.laterINSZ[subject])!), region: "flanders", requestedBy: .jobSeeker,
                                        requestedOn: CalendarDate("2026-03-02")!, office: "Gent"), subject: subject)
    }

    func opened(_ log: EventLog) async throws -> [Personal<INSZ>] {
        try await log.events(after: 0, matching: [EventPattern(exactly: ScreeningRequested.eventType)]).map {
            try decoder.data(ScreeningRequested.self, of: Sealing.open($0.json, id: $0.id, subject: $0.subject, keys: log.keys)).insz
        }
    }

    /// A process seals a subject's fields with the key it made for that subject; after a restart
    /// it makes another (it does not look keys up by subject). Each value names its key, and
    /// erasure deletes every key of the subject.
    @Test func aSubjectSealedUnderSeveralKeysIsErasedWhole() async throws {
        let directory = TemporaryDirectory("wzt-keys")
        let path = directory.file("log.sqlite")
        var log = try EventLog(path: path)
        _ = try await log.append([try screeningRequest("case-1"), try screeningRequest("case-1"), try screeningRequest("case-2")])
        log.close()
        log = try EventLog(path: path)
        defer { log.close() }
        _ = try await log.append([try screeningRequest("case-1")])
        #expect(try keyCount(log, "case-1") == 2, "one key per process that sealed for it")
        let number = try INSZ(Self.insz["case-1"]!)
        #expect(try await opened(log) == [.value(number), .value(number), .value(try INSZ(Self.insz["case-2"]!)), .value(number)])

        #expect(try await log.erase(subject: "case-1", reason: "request of the person"))
        #expect(try keyCount(log, "case-1") == 0)
        #expect(try await opened(log) == [.erased, .erased, .value(try INSZ(Self.insz["case-2"]!)), .erased])
        #expect(try await !log.erase(subject: "case-1", reason: "again"), "nothing left to erase")
    }

    /// Key ids are handed out above every id the file has held, also one whose key was erased:
    /// the highest-numbered key erased, then a restart, and a new subject's key still gets a new
    /// id (under the erased one's id, its values would be tried with the new key and fail).
    @Test func anErasedKeysIDIsNeverGivenToAnotherKey() async throws {
        let directory = TemporaryDirectory("wzt-key-ids")
        let path = directory.file("log.sqlite")
        var log = try EventLog(path: path)
        _ = try await log.append([try screeningRequest("case-2")])
        _ = try await log.append([try screeningRequest("case-1")])
        #expect(try await log.erase(subject: "case-1", reason: "request of the person"))
        log.close()
        log = try EventLog(path: path)
        defer { log.close() }
        _ = try await log.append([try screeningRequest("case-3")])
        #expect(try await opened(log) == [.value(try INSZ(Self.insz["case-2"]!)), .erased, .value(try INSZ(Self.laterINSZ["case-3"]!))])
    }

    /// An erasure in the same group commit as the event that made the subject's key deletes that
    /// key; the subject's next event gets a new one, not the deleted one.
    @Test func aKeyErasedInTheCommitThatMadeItIsNeverUsedAgain() async throws {
        let directory = TemporaryDirectory("wzt-keys-commit")
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        // Another connection holds the write lock, so the writer's first commit waits and the
        // next requests queue up behind it, to be committed together.
        let blocker = try DatabaseQueue(path: log.location)
        let locked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        Thread {
            try? blocker.inTransaction(.immediate) { _ in
                locked.signal()
                release.wait()
                return .commit
            }
        }.start()
        locked.wait()
        let first = Task { try await log.append([try screeningRequest("case-2")]) }
        try await Task.sleep(for: .milliseconds(200))
        let sealed = Task { try await log.append([try screeningRequest("case-1")]) }
        try await Task.sleep(for: .milliseconds(100))
        let erased = Task { try await log.erase(subject: "case-1", reason: "request of the person") }
        try await Task.sleep(for: .milliseconds(100))
        release.signal()
        _ = try await (first.value, sealed.value, erased.value)
        #expect(log.groupCommitStatistics.commits == 2, "the key and its erasure in one commit")

        _ = try await log.append([try screeningRequest("case-1")])
        #expect(try await opened(log) == [.value(try INSZ(Self.insz["case-2"]!)), .erased, .value(try INSZ(Self.insz["case-1"]!))])
    }

    /// JSON allows a key to be written with escapes and values to be spaced out; the decoder reads
    /// `"in\u0073z"` as `insz`, so sealing must find it too, or the number would be stored in the clear.
    /// Escaped quotes and backslashes in a value before it must not lead the scan astray either.
    @Test func personalFieldsAreSealedHoweverTheirKeyIsWritten() async throws {
        let directory = TemporaryDirectory("wzt-escaped-keys")
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let counsellor = #"c-17 "Zuid" \ "insz": 2"#
        let plain = String(decoding: try EnvelopeEncoder.envelope(
            ScreeningRequested(caseID: "case-1", insz: try INSZ(Self.insz["case-1"]!), region: "flanders", requestedBy: .jobSeeker,
                               requestedOn: CalendarDate("2026-03-02")!, office: "Gent", counsellorID: counsellor),
            source: "/agency/vdab", subject: "case-1", actor: Actor(id: "c-17", role: "vdab-counsellor", agency: "vdab"), purpose: .activationTrajectory), as: UTF8.self)
        let escaped = plain.replacingOccurrences(of: #""insz":"#, with: #""in\u0073z" :  "#)
        #expect(escaped != plain)
        _ = try await log.append([try decoder.decode(Array(escaped.utf8))])
        #expect(!fileText(log.location).contains(Self.insz["case-1"]!))
        #expect(try await opened(log) == [.value(try INSZ(Self.insz["case-1"]!))])
        let stored = try #require(try await log.events(after: 0, limit: 1).first)
        #expect(try decoder.data(ScreeningRequested.self, of: Sealing.open(stored.json, id: stored.id, subject: "case-1", keys: log.keys)).counsellorID == counsellor)
    }

    /// Values sealed before sealed values named their key (`{"sealed":"…"}` alone) open with the
    /// subject's key in `subject_keys`, and are erased with it.
    @Test func valuesSealedBeforeKeyIdsStillOpenAndErase() async throws {
        let directory = TemporaryDirectory("wzt-legacy-keys")
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        _ = try await log.append([try screeningRequest("case-1")])
        let stored = try #require(try await log.events(after: 0, limit: 1).first)
        // The key moves to where it was kept before key ids, and the value stops naming it.
        let database = try DatabaseQueue(path: log.location)
        let row = try #require(try database.read { db in try Row.fetchOne(db, sql: "SELECT id, key FROM sealing_keys WHERE subject = 'case-1'") })
        let keyID: Int64 = row["id"], key: Data = row["key"]
        try await database.write { db in
            try db.execute(sql: "INSERT INTO subject_keys (subject, key) VALUES ('case-1', ?)", arguments: [key])
            try db.execute(sql: "DELETE FROM sealing_keys")
        }
        let legacy = Array(String(decoding: stored.json, as: UTF8.self).replacingOccurrences(of: #","key":\#(keyID)}"#, with: "}").utf8)
        #expect(legacy != stored.json && !String(decoding: legacy, as: UTF8.self).contains(#""key""#))
        let open = { try decoder.data(ScreeningRequested.self, of: Sealing.open(legacy, id: stored.id, subject: "case-1", keys: log.keys)).insz }
        #expect(try open() == .value(try INSZ(Self.insz["case-1"]!)))
        #expect(try keyCount(log, "case-1") == 1)
        #expect(try await log.erase(subject: "case-1", reason: "request of the person"))
        #expect(try open() == .erased)
    }

    @Test func publishersSendValuesNeverTheLogsSealedForms() throws {
        let json = try EnvelopeEncoder.envelope(
            ScreeningRequested(caseID: "case-9", insz: try INSZ("85073003328"), region: "flanders", requestedBy: .jobSeeker, requestedOn: CalendarDate("2026-01-02")!, office: "Gent"),
            source: "/agency/vdab", subject: "case-9")
        let forged = Array(String(decoding: json, as: UTF8.self).replacingOccurrences(of: #""85073003328""#, with: #"{"erased":true}"#).utf8)
        #expect(try decoder.decode(forged).id != "", "the log's own readers accept the form")
        let refusal = try #require(#expect(throws: EnvelopeError.self) { try decoder.forPublishers.decode(forged) })
        #expect(refusal.code == .invalidData && refusal.reason.contains("data.insz"), "\(refusal)")

        let withoutSubject = Array(String(decoding: json, as: UTF8.self).replacingOccurrences(of: #""subject":"case-9","#, with: "").utf8)
        let missing = try #require(#expect(throws: EnvelopeError.self) { try decoder.decode(withoutSubject) })
        #expect(missing.code == .missingAttribute && missing.reason.contains("data.insz"), "\(missing)")
    }
}
