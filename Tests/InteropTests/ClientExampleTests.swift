import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// Examples/Publisher, an integrator's own package built on the WZTClient library (Scripts/test
    /// builds it): it compiles none of the node's dependencies, links no database or OpenSSL, and
    /// publishes a screening request to a running node and reads intake's answer from the feed.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct ClientExampleTests {
        static let build = Interop.root + "/Examples/Publisher/.build/debug"

        @Test func theExampleBuildsOnTheClientAloneAndGetsIntakesAnswer() async throws {
            let binary = Self.build + "/publish-screening"
            try #require(FileManager.default.isExecutableFile(atPath: binary),
                         "build the example first: swift build --package-path Examples/Publisher (Scripts/test does)")
            let modules = Set(try FileManager.default.contentsOfDirectory(atPath: Self.build + "/Modules").map { String($0.prefix { $0 != "." }) })
            #expect(modules == ["AMAContracts", "BusCore", "GBOOnboardingContracts", "IntakeContracts", "MandatingContracts", "NetworksContracts",
                                "PluginAPI", "WZTClient", "ZeroMQ", "publish_screening"], "the example compiled \(modules.sorted())")
            let libraries = try Interop.run("ldd", [binary]).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            for server in ["libsqlite3", "libssl", "libcrypto.so", "libpq"] {
                #expect(!libraries.contains { $0.hasPrefix(server) }, "the example links \(server)")
            }

            let directory = TemporaryDirectory("wzt-client-example")
            let server = ServerProcess(dataDirectory: directory.file("data"))
            try server.start()
            defer { server.kill(SIGTERM) }
            let answer = try await blocking { try Interop.run(binary, ["case-example-1", server.ingress, server.egress, server.replay]) }
            #expect(answer.contains("stored at offset 1"), "\(answer)")
            #expect(answer.contains("case case-example-1 is requested since 2026-11-23"), "\(answer)")
        }
    }
}
