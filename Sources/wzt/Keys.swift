import ArgumentParser
import Foundation
import ZeroMQ

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make CURVE keys for a node and its clients.",
        subcommands: [Generate.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub (public).",
            discussion: """
                The node reads its own secret key from [security] secret_key_file; each client's public key goes \
                under [[security.keys]] of the node's config, and the node's public key to the client. \
                Never overwrites an existing key.
                """
        )

        @Option(help: ArgumentHelp("Directory to write to (created if missing).", valueName: "dir")) var out: String
        @Option(help: "File name without extension, e.g. core or vdab-intake.") var name = "core"

        func run() throws {
            guard zeroMQHasCurve else { throw CommandFailure("this libzmq (\(zeroMQVersion)) was built without CURVE; install libzmq3-dev from Debian") }
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }), !name.hasPrefix(".") else {
                throw CommandFailure("--name \(name): use letters, digits, '-', '_' and '.', e.g. vdab-intake")
            }
            let secretPath = out + "/\(name).key", publicPath = out + "/\(name).pub"
            for path in [secretPath, publicPath] where FileManager.default.fileExists(atPath: path) {
                throw CommandFailure("\(path) exists; choose another --name or --out (a key is never overwritten)")
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let keys = try CurveKeyPair.generate()
            // Created with 0600 from the start: no moment at which another user could read it.
            guard FileManager.default.createFile(atPath: secretPath, contents: Data((keys.secretKey + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw CommandFailure("cannot write \(secretPath)")
            }
            try (keys.publicKey + "\n").write(toFile: publicPath, atomically: true, encoding: .utf8)
            print("secret key: \(secretPath) (mode 0600; keep it on this host)")
            print("public key: \(publicPath): \(keys.publicKey)")
        }
    }
}
