import Bus
import Foundation
import Logging
import ModuleKit
import PostgresStorage
import ServiceLifecycle

/// A fresh directory under the system temp dir, removed when the test's scope ends.
public final class TemporaryDirectory: Sendable {
    public let path: String

    /// Under `base` when given (a memory file system, for tests that write a lot), else the temporary directory.
    public init(_ name: String = "wzt-test", in base: String? = nil) {
        path = (base.map { $0 + "/" } ?? NSTemporaryDirectory()) + "\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }
}

public enum Samples {
    public static let registry = try! ContractRegistry([NoteAdded.self, NotesCounted.self])
    public static let decoder = EnvelopeDecoder(registry: registry)
    /// A rule book without rule sets, for modules that consult none.
    public static let noRules = try! RuleBook([])

    /// A valid note-added envelope.
    public static func noteJSON(_ text: String = "hello", subject: String = "case-1", id: String = EventID.make(), time: Date = Date()) -> [UInt8] {
        try! EnvelopeEncoder.envelope(NoteAdded(text: text), source: "/test", subject: subject, id: id, time: time)
    }

    public static func note(_ text: String = "hello", subject: String = "case-1", id: String = EventID.make(), time: Date = Date()) -> Envelope {
        try! decoder.decode(noteJSON(text, subject: subject, id: id, time: time))
    }
}

/// Waits until `condition` holds, checking every 20 ms, for at most `seconds` (times
/// `WZT_TEST_TIME_SCALE`, which `Scripts/test --sanitize` raises for code a sanitizer slows down).
/// A condition that throws counts as not yet. The condition runs on a thread of its own: it may
/// read a database synchronously without blocking the cooperative pool that the code under test needs.
public func eventually(seconds: Double = 10, _ condition: @escaping @Sendable () throws -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds * testTimeScale)
    while true {
        let holds = (try? await blocking { (try? condition()) ?? false }) ?? false
        if holds { return true }
        if Date() >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(20))
    }
}

/// How much longer than usual the tests wait for what they expect: 1 unless `WZT_TEST_TIME_SCALE` says.
public let testTimeScale = ProcessInfo.processInfo.environment["WZT_TEST_TIME_SCALE"].flatMap(Double.init).map { max($0, 1) } ?? 1

/// How long a test's socket waits for the node's reply before the test fails: a liveness bound,
/// not a latency goal: nodes started at once beside the run's other tests have taken more than
/// 5 s to answer their first publish on a busy CI machine.
public let replyTimeoutMilliseconds = Int32(30_000 * testTimeScale)

/// Runs blocking work (libzmq calls, child processes) on a thread of its own, so that it never
/// occupies the cooperative pool that the node under test needs.
public func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

/// Appends `total` notes ("n0", "n1", …) to `log` in appends of the sizes `bursts` gives in
/// turn, as traffic comes while a dispatcher runs.
public func appendNotes(_ total: Int, inBursts bursts: [Int], to log: EventLog) async throws {
    var appended = 0, burst = 0
    while appended < total {
        let size = min(max(1, bursts.isEmpty ? total : bursts[burst % bursts.count]), total - appended)
        _ = try await log.append((0..<size).map { Samples.note("n\(appended + $0)") })
        appended += size
        burst += 1
    }
}

/// Runs `services` in a service group while `body` runs, then shuts them down gracefully and
/// waits for them to finish.
public func withServices(_ services: [any Service], _ body: () async throws -> Void) async throws {
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: Logger(label: "test")))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        try await body()
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

/// The PostgreSQL server the tests use: `Scripts/test` starts one and names it in
/// `WZT_TEST_POSTGRES`. Without it the tests that need one fail and say how to get one; they do
/// not skip, so a run that could not start the server cannot pass unnoticed.
/// Runs a program found on the PATH (a checker nobody here wrote) to its end: its exit status,
/// and what it printed on standard output and standard error together.
public func runTool(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let tool = Process()
    tool.executableURL = URL(filePath: "/usr/bin/env")
    tool.arguments = arguments
    let output = Pipe()
    tool.standardOutput = output
    tool.standardError = output
    try tool.run()
    let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    tool.waitUntilExit()
    return (tool.terminationStatus, said)
}

public enum TestPostgres {
    public static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["WZT_TEST_POSTGRES"], !url.isEmpty else {
            throw TestPostgresMissing()
        }
        return url
    }

    /// A new, empty database on that server, for a test that cannot choose its schemas' names
    /// (a whole node, whose modules' schemas are named after them). Returns its address.
    public static func freshDatabase() throws -> String {
        let name = "wzt_\(UUID().uuidString.prefix(8).lowercased())"
        try execute("CREATE DATABASE \(name)")
        return try url().replacingOccurrences(of: #"/[^/]*$"#, with: "/\(name)", options: .regularExpression)
    }

    /// Runs `sql` with `psql` on the server's own database, as its superuser.
    public static func execute(_ sql: String) throws {
        let psql = Process()
        psql.executableURL = URL(filePath: "/usr/bin/env")
        psql.arguments = ["psql", try url(), "--quiet", "--no-psqlrc", "--output", "/dev/null", "--command", sql]
        try psql.run()
        psql.waitUntilExit()
        guard psql.terminationStatus == 0 else { throw TestPostgresMissing() }
    }
}

/// Where a test's event log lives: a file in a temporary directory, or a schema of its own on
/// the test server (`TestPostgres`). Opening again opens the same log.
public struct TestLog: Sendable, CustomStringConvertible {
    public enum Engine: String, Sendable, CaseIterable { case sqlite, postgres }
    public let engine: Engine
    /// The log's directory when in SQLite.
    public let directory = TemporaryDirectory("wzt-log")
    private let server: String?
    private let schema: String

    /// In PostgreSQL, a schema of its own on `server` (by default the test server).
    public init(_ engine: Engine, server: String? = nil) {
        self.engine = engine
        self.server = server
        schema = "\(EventLog.postgresSchema)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The log a node finds with `[storage] log = url` (in PostgreSQL) or in `directory`.
    public init(_ engine: Engine, configuredAt url: String) {
        self.engine = engine
        server = url
        schema = EventLog.postgresSchema
    }

    public static var both: [TestLog] { Engine.allCases.map { TestLog($0) } }

    public var description: String { engine.rawValue }

    /// `sharedWithOtherNodes`: as a node of a cluster opens it (PostgreSQL only), so that opening
    /// it twice gives two nodes of one log.
    public func open(sharedWithOtherNodes: Bool = false) async throws -> EventLog {
        switch engine {
        case .sqlite:
            return try EventLog(path: directory.file("log.sqlite"))
        case .postgres:
            let store = try await PostgresStore.open(url: try server ?? TestPostgres.url(), schema: schema, migrations: EventLog.migrations(for: .postgres),
                                                     logger: Logger(label: "test"))
            return try EventLog(store: store, sharedWithOtherNodes: sharedWithOtherNodes)
        }
    }
}

/// A PostgreSQL server of one test's own (`Scripts/postgres`), for tests that stop and start it.
public final class PrivatePostgres: Sendable {
    public let url: String
    let directory: String
    static let script = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../Scripts/postgres").standardized.path

    /// With `tls`, the server offers TLS with a certificate for 127.0.0.1 that `authority` signed.
    public init(tls: Bool = false) throws {
        // Inside /tmp itself: the server may run as another user, who must reach the directory.
        directory = "/tmp/wzt-postgres-\(UUID().uuidString.prefix(8))"
        url = try Self.run(["start", directory] + (tls ? ["--tls"] : []))
    }

    /// The certificate of the authority that signed the server's, when it has TLS.
    public var authority: String { directory + "/tls/ca.pem" }

    deinit {
        _ = try? Self.run(["stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }

    public func stop() throws { _ = try Self.run(["stop", directory]) }
    public func start() throws { _ = try Self.run(["start", directory]) }

    /// The script's last line of output. Through `system`, which waits for the script alone:
    /// Foundation's `Process.waitUntilExit` did not return once the script had left a server running.
    private static func run(_ arguments: [String]) throws -> String {
        let output = "/tmp/wzt-postgres-\(UUID().uuidString.prefix(8)).out"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let command = ([script] + arguments).map { "'\($0)'" }.joined(separator: " ")
        guard system("bash \(command) > '\(output)'") == 0,
              let text = try? String(contentsOfFile: output, encoding: .utf8) else { throw TestPostgresMissing() }
        return text.split(separator: "\n").last.map(String.init) ?? ""
    }
}

public struct TestPostgresMissing: Error, CustomStringConvertible {
    public var description: String {
        "no PostgreSQL server for the tests: run them with Scripts/test, which starts one, or set WZT_TEST_POSTGRES=postgres://user@127.0.0.1:PORT/DATABASE"
    }
}

/// Keeps log entries in memory so tests can assert on them. A value, as log handlers must be:
/// metadata set on one logger's copy stays there; the entries are shared.
public struct LogSink: LogHandler {
    public struct Entry: Sendable {
        public let message: String
        public let metadata: [String: String]
        public var level: Logger.Level = .info
    }

    public final class Store: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [Entry] = []
        public init() {}
        func append(_ entry: Entry) { lock.withLock { stored.append(entry) } }
        public var entries: [Entry] { lock.withLock { stored } }
        public var messages: [String] { entries.map(\.message) }
    }

    public let store: Store
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(store: Store) { self.store = store }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        all.merge(event.metadata ?? [:]) { $1 }
        store.append(Entry(message: "\(event.message)", metadata: all.mapValues { "\($0)" }, level: event.level))
    }
}
