import Foundation
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import Testing

/// Paths to what the interop tests run: the built `wzt` and a Python with pyzmq.
enum Interop {
    static let root = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../..").standardized.path
    static let python = ProcessInfo.processInfo.environment["WZT_PYTHON"] ?? "python3"
    static let scripts = root + "/Tests/InteropTests/Python"

    /// The `wzt` binary that `swift build` made (Scripts/test builds it first), or `WZT_BINARY`.
    static func binary() throws -> String {
        let candidates = [ProcessInfo.processInfo.environment["WZT_BINARY"], root + "/.build/debug/wzt", root + "/.build/release/wzt"].compactMap { $0 }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw InteropFailure("no wzt binary at \(candidates.joined(separator: " or ")); run `swift build` first (Scripts/test does)")
        }
        return found
    }

    /// A TCP port that was free a moment ago, for servers that must restart on the same endpoint.
    /// Drawn below the kernel's ephemeral range (32768 and up here): a port the kernel handed out
    /// and took back could go to the next outgoing connection of another test before the server
    /// binds it, and none of those draws from this range. Never the same port twice in a run: a
    /// server's four ports are drawn before it binds any of them, and a check that the port can
    /// be bound does not see one drawn a moment ago (a server once could not bind its replay
    /// port, most likely drawn a second time for the same server).
    static func freePort() -> Int {
        while true {
            let port = Int.random(in: 20_000..<32_000)
            if handedOut.withLockedValue({ $0.insert(port).inserted }) && canBind(port) { return port }
        }
    }

    private static let handedOut = NIOLockedValueBox<Set<Int>>([])

    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Runs a command to its end and returns its standard output; throws with its stderr on failure.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(filePath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe(), errors = Pipe(), stdin = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw InteropFailure("\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: errData, as: UTF8.self).suffix(2000))")
        }
        return String(decoding: outData, as: UTF8.self)
    }
}

struct InteropFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A `wzt serve` child process on fixed loopback ports.
final class ServerProcess: @unchecked Sendable {
    let dataDirectory: String
    let ingress: String
    let egress: String
    let replay: String
    /// The HTTP side: http://127.0.0.1:PORT.
    let http: String
    private var process: Process?
    private let logPath: String
    private let extraArguments: [String]
    private let environment: [String: String]

    init(dataDirectory: String, extraArguments: [String] = [], environment: [String: String] = [:]) {
        self.dataDirectory = dataDirectory
        self.extraArguments = extraArguments
        self.environment = environment
        ingress = "tcp://127.0.0.1:\(Interop.freePort())"
        egress = "tcp://127.0.0.1:\(Interop.freePort())"
        replay = "tcp://127.0.0.1:\(Interop.freePort())"
        http = "127.0.0.1:\(Interop.freePort())"
        logPath = dataDirectory + ".server.log"
    }

    /// Starts the server and returns once it printed its ready line.
    func start() throws {
        let process = Process()
        process.executableURL = URL(filePath: try Interop.binary())
        process.arguments = ["serve", "--data-dir", dataDirectory, "--ingress", ingress, "--egress", egress, "--replay", replay, "--http", http] + extraArguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(filePath: logPath))
        log.seekToEndOfFile()
        process.standardError = log
        try process.run()
        self.process = process
        var line = Data()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { break }
            if byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        guard String(decoding: line, as: UTF8.self).hasPrefix("wzt ready") else {
            throw InteropFailure("wzt serve did not get ready: \(String(decoding: line, as: UTF8.self)) \(serverLog)")
        }
    }

    /// The server's process id while it runs.
    var pid: Int32? { process?.processIdentifier }

    /// Whether the server is still running (it was started and has not exited).
    var isRunning: Bool { process?.isRunning == true }

    var serverLog: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends `signal`, waits for the exit, and returns the exit status.
    @discardableResult
    func kill(_ signal: Int32) -> Int32? {
        guard let process else { return nil }
        Foundation.kill(process.processIdentifier, signal)
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    deinit { kill(SIGKILL) }
}

/// Every test that starts servers and Python processes, one after the other: side by side they
/// would starve each other (and the node under test) of this machine's two cores.
@Suite(.serialized) enum ProcessTests {}
