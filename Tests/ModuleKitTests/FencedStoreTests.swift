import Foundation
import Logging
@testable import ModuleKit
import PostgresStorage
import Storage
import TestSupport
import Testing

/// A module's tables written by two nodes, one of which lost its lease without noticing (paused):
/// once the new owner wrote with its higher token, the old one's writes fail, and fail as "not the
/// owner" (which a dispatcher waits out rather than dead-letters).
struct FencedStoreTests {
    @Test func aStaleTokenCannotWriteOnceTheNewOwnerHasClaimed() async throws {
        let url = try TestPostgres.freshDatabase()
        let module = SampleModule()
        func open() async throws -> FencedStore {
            FencedStore(try await PostgresStore.open(url: url, schema: module.name, migrations: ModuleStore.migrations(of: module), logger: Logger(label: "test")),
                        module: module.name)
        }
        let (old, new) = (try await open(), try await open())
        await #expect(throws: StoreError.self) { try await old.write { _ in } }  // no lease held yet
        old.hold(1)
        try await old.write { db in try db.execute(sql: "SELECT 1") }
        new.hold(2)
        try await new.claim()
        let refused = await #expect(throws: StoreError.self) { try await old.write { _ in } }
        #expect(refused?.code == .notOwner)
        #expect(throws: StoreError.self) { try old.writeNow { _ in } }
        // Reads still pass, and the new owner writes on.
        try await new.write { _ in }
        #expect(try await old.read { db in try Int64.fetchOne(db, sql: "SELECT token FROM wzt_fence") } == 2)
        old.hold(nil)
        await #expect(throws: StoreError.self) { try await old.write { _ in } }
    }
}
