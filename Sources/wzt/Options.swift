import ArgumentParser
import Core
import Foundation
import Logging

/// `--config` and `--data-dir`, shared by the commands that read a node's configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Configuration file (TOML).", discussion: "Default: Config/wzt.toml when it exists, otherwise built-in defaults.", valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Data directory; overrides data.dir.", valueName: "path"))
    var dataDir: String?

    func load() throws -> NodeConfiguration {
        var configuration = try ConfigLoader.load(path: config, knownModules: ModuleCatalog.moduleNames)
        if let dataDir { configuration.dataDirectory = dataDir }
        return configuration
    }
}

enum Logging {
    /// The one place the process sets up logging: to standard error, at `level`.
    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Ends a command with a message on standard error and a non-zero exit code.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension ExitCode {
    static let nacked = ExitCode(1)
    static let unreachable = ExitCode(3)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
