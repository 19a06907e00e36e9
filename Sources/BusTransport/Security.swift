import Bus
import Foundation
import Logging
import ServiceLifecycle
import ZeroMQ

/// CURVE on every socket of the node: the node's secret key and the public keys allowed in,
/// each with a name and the event types it may publish (none: it may only read the feed and replay).
public struct TransportSecurity: Sendable, Hashable {
    public struct Client: Sendable, Hashable {
        public var name: String
        public var publicKey: String
        public var events: [EventPattern]
        /// The remote modules a process with this key may host (module link).
        public var modules: [String]

        public init(name: String, publicKey: String, events: [EventPattern], modules: [String] = []) {
            self.name = name
            self.publicKey = publicKey
            self.events = events
            self.modules = modules
        }
    }

    public var keys: CurveKeyPair
    public var clients: [Client]

    public init(keys: CurveKeyPair, clients: [Client]) {
        self.keys = keys
        self.clients = clients
    }

    /// The client named `name` (the ZAP User-Id of a connection) may host `module`.
    func allows(_ name: String?, toHost module: String) -> Bool {
        clients.first { $0.name == name }?.modules.contains(module) ?? false
    }

    /// The client named `name` (the ZAP User-Id of a connection) may publish `type`.
    func allows(_ name: String?, toPublish type: String) -> Bool {
        guard let name, let client = clients.first(where: { $0.name == name }) else { return false }
        return client.events.contains { $0.matches(type) }
    }
}

/// The ZAP handler (RFC 27) for the node's CURVE sockets: admits a connection whose public key
/// is listed, under that client's name (the User-Id the ingress checks types against), and
/// refuses every other key during the handshake. Logs refusals with the key and the peer
/// address, never anything the peer would have sent.
public final class ZAPHandler: Service, Sendable {
    static let endpoint = "inproc://zeromq.zap.01"

    private let socket: Socket
    private let names: [String: String]
    private let logger: Logger
    private let stop: StopSignal

    /// Binds the handler's socket; it must exist before any CURVE socket of `context` is bound.
    public init(context: Context, security: TransportSecurity, logger: Logger) throws {
        stop = try StopSignal()
        socket = try context.boundSocket(.rep, endpoint: Self.endpoint, role: "ZAP", key: "security") { _ throws(ZeroMQError) in }
        names = Dictionary(security.clients.map { ($0.publicKey, $0.name) }, uniquingKeysWith: { first, _ in first })
        self.logger = logger
    }

    public func run() async throws {
        try await SocketThread.run(name: "wzt.zap", stop: stop) { try self.loop() }
    }

    private func loop() throws {
        var poller = Poller([.socket(socket), .fileDescriptor(stop.wakeup.fileDescriptor)])
        while !stop.isRequested {
            guard try poller.poll(timeoutMilliseconds: 500)[0] else { continue }
            while let request = try socket.receive(dontWait: true) {
                try socket.send(answer(request))
            }
        }
        socket.close()
    }

    /// Request: version, request id, domain, address, routing id, mechanism, credentials.
    /// Reply: version, request id, status code, status text, user id, metadata.
    private func answer(_ request: [[UInt8]]) -> [[UInt8]] {
        guard request.count >= 6 else { return [Array("1.0".utf8), [], Array("500".utf8), Array("malformed ZAP request".utf8), [], []] }
        let version = request[0], requestID = request[1]
        let address = String(decoding: request[3], as: UTF8.self)
        let mechanism = String(decoding: request[5], as: UTF8.self)
        guard mechanism == "CURVE", request.count >= 7, let key = Curve.encode(request[6]) else {
            logger.warning("connection refused: not CURVE", metadata: ["bus.peer": "\(address)", "bus.mechanism": "\(mechanism)"])
            return [version, requestID, Array("400".utf8), Array("CURVE required".utf8), [], []]
        }
        guard let name = names[key] else {
            logger.warning("connection refused: unknown CURVE key", metadata: ["bus.peer": "\(address)", "bus.key": "\(key)"])
            return [version, requestID, Array("400".utf8), Array("unknown key".utf8), [], []]
        }
        return [version, requestID, Array("200".utf8), Array("OK".utf8), Array(name.utf8), []]
    }
}

extension Socket {
    /// A CURVE server when the node has `security`, plain otherwise.
    func secure(with security: TransportSecurity?) throws(ZeroMQError) {
        guard let security else { return }
        try makeCurveServer(secretKey: security.keys.secretKey)
    }
}
