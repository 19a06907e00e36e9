import Foundation
import Logging
import PostgresStorage
import Storage
import TestSupport
import Testing

/// What modules rely on from their database, held to the same checks on SQLite and PostgreSQL.
struct SQLStoreTests {
    struct Case: SQLRecord, Equatable {
        static let tableName = "record_case"
        var id: String
        var status: String
        var extensions: Int
        var limitReached: Bool
        var note: String?
        var due: Double?

        enum CodingKeys: String, CodingKey {
            case id, status, extensions, limitReached = "limit_reached", note, due
        }
    }

    static var migrations: SQLMigrations {
        var migrations = SQLMigrations()
        migrations.registerMigration("v1") { db in
            try db.execute(sql: """
                -- a comment with a ; and a ? in it
                CREATE TABLE record_case (
                    id TEXT PRIMARY KEY, status TEXT NOT NULL, extensions INTEGER NOT NULL DEFAULT 0,
                    limit_reached INTEGER NOT NULL DEFAULT 0, note TEXT, due REAL
                );
                CREATE TABLE blob_row (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)
                """)
        }
        return migrations
    }

    enum Engine: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    func open(_ engine: Engine, in directory: TemporaryDirectory) async throws -> any SQLStore {
        switch engine {
        case .sqlite: try SQLiteStore(path: directory.file("store.sqlite"), migrations: Self.migrations)
        case .postgres:
            try await PostgresStore.open(url: try TestPostgres.url(), schema: "records_\(UUID().uuidString.prefix(8).lowercased())",
                                         migrations: Self.migrations, logger: Logger(label: "test"))
        }
    }

    @Test(arguments: Engine.allCases)
    func recordsRoundTripAndAnUpdateClearsWhatBecameNil(_ engine: Engine) async throws {
        let directory = TemporaryDirectory("wzt-store")
        let store = try await open(engine, in: directory)
        let first = Case(id: "case-1", status: "running", extensions: 2, limitReached: true, note: "on hold", due: 1_790_000_000.25)
        try await store.write { db in try first.insert(db) }
        #expect(try await store.read { db in try Case.fetchOne(db, key: "case-1") } == first)

        var changed = first
        changed.note = nil
        changed.due = nil
        changed.limitReached = false
        try await store.write { [changed] db in try changed.update(db) }
        #expect(try await store.read { db in try Case.fetchOne(db, key: "case-1") } == changed)
        #expect(try await store.read { db in try Case.fetchOne(db, key: "case-2") } == nil)
        await #expect(throws: SQLError.self) { try await store.write { db in try Case(id: "case-9", status: "x", extensions: 0, limitReached: false).update(db) } }
    }

    @Test(arguments: Engine.allCases)
    func valuesComeBackAsTheyWentIn(_ engine: Engine) async throws {
        let directory = TemporaryDirectory("wzt-store")
        let store = try await open(engine, in: directory)
        let bytes = Data([0, 1, 0xFE, 0xFF] + Array("%PDF".utf8))
        let (count, exists, seq, body, ordered) = try await store.write { db in
            try db.execute(sql: "INSERT INTO blob_row (body) VALUES (?)", arguments: [bytes])
            try db.execute(sql: "INSERT INTO blob_row (body) VALUES (?)", arguments: [Data("second".utf8)])
            try db.execute(sql: "INSERT INTO record_case (id, status) VALUES (?, ?), (?, ?)", arguments: ["b", "new", "a", "new"])
            try db.execute(sql: "UPDATE record_case SET status = 'seen' WHERE status = ?", arguments: ["new"])
            let changes = db.changesCount
            return (changes,
                    try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM record_case WHERE id = ?)", arguments: ["a"]),
                    try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM blob_row"),
                    try Data.fetchOne(db, sql: "SELECT body FROM blob_row WHERE seq = 1"),
                    // In the order the rows were added, not by key.
                    try String.fetchAll(db, sql: "SELECT id FROM record_case ORDER BY rowid"))
        }
        #expect(count == 2)
        #expect(exists == true)
        #expect(seq == 2)
        #expect(body == bytes)
        #expect(ordered == ["b", "a"])
        let row = try #require(try await store.read { db in try SQLRow.fetchOne(db, sql: "SELECT id, extensions, due, note FROM record_case WHERE id = ?", arguments: ["a"]) })
        #expect(try row["id"] as String == "a")
        #expect(try row["extensions"] as Int == 0)
        #expect(try row["note"] as String? == nil)
        // A column the row lacks, or a value of another type, throws and names the column.
        #expect(throws: SQLRowError.self) { try row["missing"] as String }
        let wrongType = #expect(throws: SQLRowError.self) { try row["id"] as Int }
        #expect(wrongType?.description.contains("`id`") == true)
    }

    /// The values at the edges of what a column takes, bound as arguments and read back: an empty
    /// text is not NULL, nor an empty blob. (PostgreSQL refuses a NUL in a text, so no text here has one.)
    @Test(arguments: Engine.allCases)
    func edgeValuesComeBackAsTheyWentIn(_ engine: Engine) async throws {
        let directory = TemporaryDirectory("wzt-store")
        let store = try await open(engine, in: directory)
        let texts = ["", "tab\tand line\n", "Geïntegreerd Breed Onthaal 🇧🇪", String(repeating: "x", count: 100_000)]
        for (index, text) in texts.enumerated() {
            try await store.write { db in
                try db.execute(sql: "INSERT INTO record_case (id, status, extensions, due, note) VALUES (?, ?, ?, ?, ?)",
                               arguments: ["t\(index)", text, index == 0 ? Int.min : Int.max, -0.5, nil as String?])
            }
            let row = try #require(try await store.read { db in
                try SQLRow.fetchOne(db, sql: "SELECT status, extensions, due, note FROM record_case WHERE id = ?", arguments: ["t\(index)"])
            })
            #expect(try row["status"] as String == text)
            #expect(try row["extensions"] as Int == (index == 0 ? Int.min : Int.max))
            #expect(try row["due"] as Double == -0.5)
            #expect(try row["note"] as String? == nil)
        }
        try await store.write { db in try db.execute(sql: "INSERT INTO blob_row (body) VALUES (?)", arguments: [Data()]) }
        #expect(try await store.read { db in try Data.fetchOne(db, sql: "SELECT body FROM blob_row WHERE body IS NOT NULL") } == Data())
        // Too few or too many arguments for a statement is a mistake in the module's SQL: it throws.
        await #expect(throws: (any Error).self) {
            try await store.write { db in try db.execute(sql: "INSERT INTO record_case (id, status) VALUES (?, ?)", arguments: ["only-one"]) }
        }
        await #expect(throws: (any Error).self) {
            try await store.read { db in try SQLRow.fetchAll(db, sql: "SELECT id FROM record_case WHERE id = ?", arguments: ["a", "b"]) }
        }
        #expect(try await store.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM record_case") } == texts.count)
    }

    @Test(arguments: Engine.allCases)
    func aFailingWriteLeavesNothingBehind(_ engine: Engine) async throws {
        let directory = TemporaryDirectory("wzt-store")
        let store = try await open(engine, in: directory)
        await #expect(throws: (any Error).self) {
            try await store.write { db in
                try db.execute(sql: "INSERT INTO record_case (id, status) VALUES (?, ?)", arguments: ["c", "new"])
                try db.execute(sql: "INSERT INTO record_case (id, status) VALUES (?, ?)", arguments: ["c", "again"])
            }
        }
        #expect(try await store.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM record_case") } == 0)
        // The connection is usable after the failure.
        try await store.write { db in try db.execute(sql: "INSERT INTO record_case (id, status) VALUES (?, ?)", arguments: ["c", "new"]) }
        #expect(try store.readNow { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM record_case") } == 1)
    }

    /// A module applies each event of a batch in a savepoint. SQLite keeps what a savepoint would
    /// undo in a temporary file once it passes 64 KiB, and those files took more writes than the
    /// WAL itself; the writer keeps them in memory, and rolling back to a savepoint still works.
    @Test func savepointsOfABatchKeepWhatTheyUndoInMemory() async throws {
        let directory = TemporaryDirectory("wzt-store")
        let store = try SQLiteStore(path: directory.file("store.sqlite"), migrations: Self.migrations)
        try await store.write { db in
            for _ in 0..<100 { try db.execute(sql: "INSERT INTO blob_row (body) VALUES (?)", arguments: [Data(repeating: 0, count: 2_000)]) }
        }
        // Each event rewrites every row: about 100 pages, 400 KiB, to undo.
        let (temporaryFiles, bodies) = try await store.write { db in
            for event in 1...10 {
                try db.execute(sql: "SAVEPOINT event")
                try db.execute(sql: "UPDATE blob_row SET body = ?", arguments: [Data(repeating: UInt8(event), count: 2_000)])
                if event.isMultiple(of: 2) { try db.execute(sql: "ROLLBACK TO SAVEPOINT event") }
                try db.execute(sql: "RELEASE SAVEPOINT event")
            }
            return (Self.openTemporaryFilesOfSQLite(), try Data.fetchAll(db, sql: "SELECT body FROM blob_row"))
        }
        #expect(temporaryFiles == [])
        #expect(bodies == Array(repeating: Data(repeating: 9, count: 2_000), count: 100))
    }

    /// The files SQLite opened for temporary data (named `etilqs_…`, deleted as soon as opened)
    /// that this process holds open.
    static func openTemporaryFilesOfSQLite() -> [String] {
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return descriptors.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") }
            .filter { $0.contains("etilqs_") }
    }

    @Test func migrationsRunOncePerSchemaAndStoreStaysOpenable() async throws {
        let url = try TestPostgres.url()
        let schema = "again_\(UUID().uuidString.prefix(8).lowercased())"
        let first = try await PostgresStore.open(url: url, schema: schema, migrations: Self.migrations, logger: Logger(label: "test"))
        try await first.write { db in try db.execute(sql: "INSERT INTO record_case (id, status) VALUES (?, ?)", arguments: ["kept", "new"]) }
        let second = try await PostgresStore.open(url: url, schema: schema, migrations: Self.migrations, logger: Logger(label: "test"))
        #expect(try await second.read { db in try String.fetchAll(db, sql: "SELECT id FROM record_case") } == ["kept"])
    }

    @Test func anUnreachableServerIsNamedWithoutItsPassword() async throws {
        let error = await #expect(throws: StoreError.self) {
            try await PostgresStore.open(url: "postgres://wzt:hunter2@127.0.0.1:1/wzt", schema: "x", migrations: Self.migrations, logger: Logger(label: "test"))
        }
        #expect(error?.code == .openFailed)
        #expect(error?.description.contains("127.0.0.1:1") == true)
        #expect(error?.description.contains("cannot connect") == true)
        #expect(error?.description.contains("hunter2") == false)
    }
}

/// The connection to a server elsewhere is encrypted, and checked as far as `sslmode` asks.
@Suite(.timeLimit(.minutes(1)))
struct PostgresTLSTests {
    static func encrypted(_ url: String) async throws -> Bool? {
        let store = try await PostgresStore.open(url: url, schema: "tls_\(UUID().uuidString.prefix(8).lowercased())", migrations: SQLMigrations(), logger: Logger(label: "test"))
        return try await store.read { db in try Bool.fetchOne(db, sql: "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") }
    }

    @Test func aServerOfferingTLSIsReachedEncryptedAndItsCertificateChecked() async throws {
        let server = try PrivatePostgres(tls: true)
        #expect(try await Self.encrypted(server.url + "?sslmode=verify-full&sslrootcert=\(server.authority)") == true)
        // The default, as libpq's: encrypted when the server offers it.
        #expect(try await Self.encrypted(server.url) == true)
        #expect(try await Self.encrypted(server.url + "?sslmode=disable") == false)
        // A certificate no trusted authority signed is refused.
        let error = await #expect(throws: StoreError.self) { try await Self.encrypted(server.url + "?sslmode=verify-full") }
        #expect(error?.code == .openFailed)
        #expect(error?.description.contains("cannot connect") == true, "\(error?.description ?? "")")
    }

    @Test func requiringTLSOfAServerWithoutItFails() async throws {
        let error = await #expect(throws: StoreError.self) { try await Self.encrypted(try TestPostgres.url() + "?sslmode=require") }
        #expect(error?.description.contains("does not offer TLS") == true, "\(error?.description ?? "")")
    }

    @Test func unknownSettingsAreRefused() {
        #expect(throws: StoreError.self) { try PostgresStore.checkAddress("postgres://wzt@db.example/wzt?sslmode=always") }
        #expect(throws: StoreError.self) { try PostgresStore.checkAddress("postgres://wzt@db.example/wzt?connect_timeout=3") }
        #expect(throws: StoreError.self) { try PostgresStore.checkAddress("postgres://wzt@db.example/wzt?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem") }
    }
}
