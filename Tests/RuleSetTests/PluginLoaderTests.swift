import Core
import Foundation
import ModuleKit
import PluginAPI
import Testing

/// Runtime plugins: the Example package is built on its own (Scripts/test does it) and loaded here.
@Suite(.serialized)
struct PluginLoaderTests {
    static let root = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../..").standardized.path

    static var examplePlugin: String {
        ProcessInfo.processInfo.environment["WZT_EXAMPLE_PLUGIN"] ?? root + "/Plugins/Example/.build/debug/libExampleRules.so"
    }

    func scratch() throws -> String {
        let directory = NSTemporaryDirectory() + "wzt-plugins-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Compiles a C fixture into a shared library, as a foreign or outdated plugin would be.
    func compile(_ fixture: String, into directory: String) throws -> String {
        let output = directory + "/" + fixture.replacingOccurrences(of: ".c", with: ".so")
        let process = Process()
        process.executableURL = URL(filePath: "/usr/bin/env")
        process.arguments = ["cc", "-shared", "-fPIC", "-o", output, Self.root + "/Tests/RuleSetTests/Fixtures/" + fixture]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "cc failed for \(fixture)")
        return output
    }

    @Test func exampleRulesAreLoadedFromTheirSharedLibraryAndUsedByTheRuleBook() throws {
        let path = Self.examplePlugin
        try #require(FileManager.default.fileExists(atPath: path), "build the example plugin first: swift build --package-path Plugins/Example (Scripts/test does)")
        let provider = try PluginLoader.load(path: path).get()
        #expect(provider.pluginName == "Example")
        let book = try RuleBook(PluginLoader.builtIn.flatMap(\.ruleSets) + provider.ruleSets)
        let rules = try book.rules(region: "example-east", offer: .activationTrajectory, caseStartedOn: CalendarDate("2025-06-01")!)
        #expect(rules.id == "example-east-2025")
        #expect(rules.activation.maximumMonths == 24)
        // The built-in regions are unaffected.
        #expect(try book.rules(region: "flanders", offer: .activationTrajectory, caseStartedOn: CalendarDate("2025-06-01")!).activation.maximumMonths == 18)
    }

    @Test func aDirectoryLoadsItsPluginsAndRefusesTheRestWithReasons() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: Self.examplePlugin, toPath: directory + "/libExampleRules.so")
        try Data((0..<4096).map { _ in UInt8.random(in: 0...255) }).write(to: URL(filePath: directory + "/corrupt.so"))
        _ = try compile("other_api_version.c", into: directory)
        _ = try compile("no_entry.c", into: directory)
        try "not a library".write(toFile: directory + "/README.txt", atomically: true, encoding: .utf8)
        // The plugin API library itself, copied beside the plugins (as `cp .build/release/*.so`
        // does): loading a second copy of it crashed the node.
        let apiLibrary = URL(filePath: Self.examplePlugin).deletingLastPathComponent().appending(path: "libPluginAPI.so").path
        try FileManager.default.copyItem(atPath: apiLibrary, toPath: directory + "/libPluginAPI.so")
        try Data([0x7F, 0x45, 0x4C, 0x46, 2, 1] + [UInt8](repeating: 0xFF, count: 100)).write(to: URL(filePath: directory + "/truncated.so"))

        let result = PluginLoader.load(directories: [directory, directory + "/missing"])
        #expect(result.loaded.map(\.provider.pluginName) == ["Example"])
        let reasons = Dictionary(uniqueKeysWithValues: result.refused.map { (URL(filePath: $0.path).lastPathComponent, $0.reason) })
        #expect(reasons["corrupt.so"]?.contains("invalid ELF header") == true)
        #expect(reasons["other_api_version.so"]?.contains("built against PluginAPI version 99") == true)
        #expect(reasons["no_entry.so"]?.contains("does not export wzt_plugin_api_version") == true)
        #expect(reasons["missing"]?.contains("cannot read the plugin directory") == true)
        #expect(reasons["libPluginAPI.so"]?.contains("does not export wzt_plugin_api_version and wzt_plugin_entry") == true)
        #expect(reasons["truncated.so"]?.contains("not loadable") == true)
        #expect(result.refused.count == 6)
    }

    @Test func aMissingFileIsRefused() {
        guard case .failure(let refusal) = PluginLoader.load(path: "/nonexistent/libNothing.so") else {
            Issue.record("a missing file loaded")
            return
        }
        #expect(refusal.reason.contains("cannot open shared object file"))
    }
}
