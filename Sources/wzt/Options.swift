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
    /// `wzt publish`: nothing was sent, because the input, the configuration or an endpoint is not usable.
    static let badInput = ExitCode(2)
    static let unreachable = ExitCode(3)
    /// `wzt publish --outcome`: a module refused an event, or gave up on it.
    static let refused = ExitCode(4)
    /// `wzt publish --outcome`: an event is stored, but what became of it is not known.
    static let outcomeLate = ExitCode(5)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// `value` as one line of JSON on standard output (`--json`): keys sorted, dates in RFC 3339.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// `--config` for the commands that talk to a running node: its endpoints (and, with CURVE, its
/// public key) come from the node's configuration file; a flag given on the command line wins.
struct NodeConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The node's configuration file (TOML): its endpoints and CURVE public key are read from it; flags win.", valueName: "path"))
    var config: String?

    func load() throws -> NodeConfiguration? {
        try config.map { try ConfigLoader.load(path: $0, knownModules: ModuleCatalog.moduleNames) }
    }
}

extension NodeConfiguration {
    /// A bound address as a client connects to it: a wildcard host is this host.
    static func connectable(_ endpoint: String) -> String {
        endpoint.replacingOccurrences(of: "://0.0.0.0:", with: "://127.0.0.1:").replacingOccurrences(of: "://*:", with: "://127.0.0.1:")
            .replacingOccurrences(of: "://[::]:", with: "://[::1]:")
    }

    /// The HTTP side as a client reaches it.
    var httpAddress: String? {
        http.map { ["0.0.0.0", "*", "::"].contains($0.host) ? "127.0.0.1:\($0.port)" : $0.description }
    }
}

/// `--key` and `--server-key`, for commands that talk to a node with CURVE on.
struct CurveOptions: ParsableArguments {
    @Option(help: ArgumentHelp("This client's CURVE secret key file (from `wzt keys generate`), for a node with [security].", valueName: "path"))
    var key: String?

    @Option(help: ArgumentHelp("The node's CURVE public key: 40 Z85 characters, or the path of its .pub file.", valueName: "key|path"))
    var serverKey: String?

    /// `nodeKey`: the node's public key from its configuration, for when --server-key is not given.
    func credentials(nodeKey: String? = nil) throws -> CurveCredentials? {
        if key == nil, serverKey == nil {
            guard nodeKey == nil else {
                throw ValidationError("the node's configuration has [security] (CURVE): give --key with this client's secret key file (`wzt keys generate`)")
            }
            return nil
        }
        switch (key, serverKey ?? nodeKey) {
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
