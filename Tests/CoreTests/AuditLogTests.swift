import Audit
import Foundation
import GRDB
import TestSupport
import Testing

struct AuditLogTests {
    @Test func entriesAreKeptInOrderFoundBySubjectOrActorAndNeverChanged() async throws {
        let directory = TemporaryDirectory("wzt-audit")
        let path = directory.file("audit.sqlite")
        let audit = try AuditLog(path: path)
        let read = AuditEntry(actor: "an", role: "caseworker", agency: "vdab-gent", action: "GET /api/intake/trajectories/case-1", subject: "case-1",
                              purpose: "activation-trajectory", outcome: .allowed)
        try await audit.record(read)
        try await audit.record(AuditEntry(actor: "olivia", role: "caseworker", agency: "ocmw", action: read.action, subject: "case-1",
                                          purpose: "activation-trajectory", outcome: .refused))
        try await audit.record(AuditEntry(actor: "an", role: "caseworker", agency: "vdab-gent", action: "GET /api/intake/trajectories/case-2",
                                          subject: "case-2", purpose: "activation-trajectory", outcome: .allowed))

        let aboutCase1 = try await audit.entries(subject: "case-1")
        #expect(aboutCase1.map { "\($0.actor) \($0.outcome)" } == ["an allowed", "olivia refused"])
        #expect(aboutCase1.first?.agency == "vdab-gent" && abs((aboutCase1.first?.at ?? .distantPast).timeIntervalSince(read.at)) < 0.01)
        #expect(try await audit.entries(actor: "an").map(\.subject) == ["case-1", "case-2"])
        #expect(try await audit.entries().count == 3)

        // Append-only for anyone who opens the file, not only through this API.
        let queue = try DatabaseQueue(path: path)
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "UPDATE audit_entry SET actor = 'someone else'") } }
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "DELETE FROM audit_entry") } }
        #expect(try await audit.entries().count == 3)
    }
}
