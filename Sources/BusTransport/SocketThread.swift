import Bus
import Foundation
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// Tells a socket thread to stop, and wakes it from `poll` to notice.
final class StopSignal: Sendable {
    private let requested = Atomic<Bool>(false)
    let wakeup: Wakeup

    init() throws(ZeroMQError) {
        wakeup = try Wakeup()
    }

    func request() {
        requested.store(true, ordering: .releasing)
        wakeup.signal()
    }

    var isRequested: Bool { requested.load(ordering: .acquiring) }
}

/// Runs a socket loop on a thread of its own (libzmq calls block, which the cooperative pool
/// must not), and ends it on graceful shutdown or cancellation.
enum SocketThread {
    static func run(name: String, stop: StopSignal, _ body: @escaping @Sendable () throws -> Void) async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let thread = Thread {
                        Thread.nameCurrent(name)
                        do {
                            try body()
                            continuation.resume()
                        } catch {
                            continuation.resume(throwing: error)
                        }
                    }
                    thread.start()
                }
            } onCancel: {
                stop.request()
            }
        } onGracefulShutdown: {
            stop.request()
        }
    }
}

/// Where a node listens. Defaults are loopback only.
public struct TransportConfiguration: Sendable, Hashable {
    public var ingressEndpoint: String
    public var egressEndpoint: String
    public var replayEndpoint: String
    /// Where modules hosted in other processes connect (bound only when there are such modules).
    public var linkEndpoint = "tcp://127.0.0.1:5558"
    /// Most messages the ingress reads before it hands them to the log as one batch.
    public var ingressBatchSize: Int
    /// Events the ingress may have waiting for the log before it stops reading (backpressure);
    /// their bytes are bounded too, to 16 times the event size limit.
    public var ingressMaxEventsInFlight: Int
    /// CURVE on every socket; nil: plain text (loopback only, see `exposedPlainEndpoints`).
    public var security: TransportSecurity?
    /// Which publishers may send events without an actor and a purpose.
    public var actors = ActorRule()

    public init(ingressEndpoint: String = "tcp://127.0.0.1:5555", egressEndpoint: String = "tcp://127.0.0.1:5556",
                replayEndpoint: String = "tcp://127.0.0.1:5557", ingressBatchSize: Int = 1024, ingressMaxEventsInFlight: Int = 4096) {
        self.ingressEndpoint = ingressEndpoint
        self.egressEndpoint = egressEndpoint
        self.replayEndpoint = replayEndpoint
        self.ingressBatchSize = ingressBatchSize
        self.ingressMaxEventsInFlight = ingressMaxEventsInFlight
    }

    /// The config keys and endpoints that listen beyond this host in plain text: a node with
    /// any of these must not start (anyone on the network could read and publish personal data).
    public var exposedPlainEndpoints: [(key: String, endpoint: String)] {
        guard security == nil else { return [] }
        return [("ingress.endpoint", ingressEndpoint), ("egress.endpoint", egressEndpoint), ("replay.endpoint", replayEndpoint), ("link.endpoint", linkEndpoint)]
            .filter { !Self.isLocal($0.1) }
    }

    /// ipc and inproc stay on this host; tcp does when its host is a loopback address; any
    /// other transport (tipc, pgm, epgm, vmci…) may reach beyond it.
    static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        let address = endpoint.dropFirst("tcp://".count)
        let host = address[..<(address.lastIndex(of: ":") ?? address.endIndex)]
        return host == "localhost" || host.hasPrefix("127.") || host == "[::1]" || host == "::1"
    }
}

extension Context {
    /// A socket of `type`, set up by `configure`, bound to `endpoint`; a failure names the
    /// config `key` and the fix.
    func boundSocket(_ type: SocketType, endpoint: String, role: String, key: String,
                     configure: (Socket) throws(ZeroMQError) -> Void) throws -> Socket {
        let socket = try self.socket(type)
        try configure(socket)
        do {
            try socket.bind(endpoint)
        } catch {
            throw TransportError.binding(endpoint, role: role, key: key, error)
        }
        return socket
    }
}

/// Who sent a ROUTER message, and how to address the reply so that DEALER and REQ clients both
/// get it: a REQ client puts an empty delimiter frame before its payload, a DEALER does not.
struct Sender: Sendable {
    let route: [UInt8]
    let delimited: Bool

    /// Splits a received message into its sender and its payload frames (nil: not a ROUTER message).
    static func split(_ frames: [[UInt8]]) -> (Sender, ArraySlice<[UInt8]>)? {
        guard frames.count >= 2 else { return nil }
        // A REQ socket puts an empty frame before its request of one or more frames.
        let sender = Sender(route: frames[0], delimited: frames.count >= 3 && frames[1].isEmpty)
        return (sender, frames.dropFirst(sender.delimited ? 2 : 1))
    }

    func reply(_ frames: [[UInt8]]) -> [[UInt8]] { (delimited ? [route, []] : [route]) + frames }
    func reply(_ frame: [UInt8]) -> [[UInt8]] { delimited ? [route, [], frame] : [route, frame] }
}

/// A socket could not be set up. Says which endpoint and what to change.
public struct TransportError: Error, CustomStringConvertible, Sendable {
    public let endpoint: String
    public let message: String

    public var description: String { "\(endpoint): \(message)" }

    static func binding(_ endpoint: String, role: String, key: String, _ error: ZeroMQError) -> TransportError {
        let hint = switch error.code {
        case EADDRINUSE: "the address is in use (another wzt serve?); stop that process or set \(key) to a free port"
        case EADDRNOTAVAIL: "no local interface has this address; set \(key) to an address of this host, e.g. tcp://127.0.0.1:PORT"
        case EINVAL, EPROTONOSUPPORT: "not a valid ZeroMQ endpoint; write it as tcp://HOST:PORT, ipc:///PATH or inproc://NAME"
        default: error.message
        }
        return TransportError(endpoint: endpoint, message: "cannot bind the \(role) socket: \(hint)")
    }
}
