import ArgumentParser
import BusTransport
import Core
import Foundation
import Logging
import ZeroMQ

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
    /// `wzt publish --outcome`: a module refused an event.
    static let refused = ExitCode(4)
    /// `wzt publish --outcome`: an event's outcome did not come in time.
    static let outcomeLate = ExitCode(5)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// `--key` and `--server-key`, for commands that talk to a node with CURVE on.
struct CurveOptions: ParsableArguments {
    @Option(help: ArgumentHelp("This client's CURVE secret key file (from `wzt keys generate`), for a node with [security].", valueName: "path"))
    var key: String?

    @Option(help: ArgumentHelp("The node's CURVE public key: 40 Z85 characters, or the path of its .pub file.", valueName: "key|path"))
    var serverKey: String?

    func credentials() throws -> CurveCredentials? {
        switch (key, serverKey) {
        case (nil, nil): return nil
        case (let key?, let server?):
            guard let secret = try? String(contentsOfFile: key, encoding: .utf8), let keys = CurveKeyPair(secretKey: secret.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw ValidationError("--key \(key): not a readable CURVE secret key file; make one with `wzt keys generate --out DIR --name NAME`")
            }
            let serverKey = Curve.isKey(server) ? server
                : (try? String(contentsOfFile: server, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard Curve.isKey(serverKey) else { throw ValidationError("--server-key \(server): neither a CURVE public key nor a readable .pub file") }
            return CurveCredentials(keys: keys, serverKey: serverKey)
        default:
            throw ValidationError("give both --key and --server-key (or neither, for a node without CURVE)")
        }
    }
}
