import Bus
import Foundation
import Logging
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import ServiceLifecycle
import ZeroMQ

/// The link between a core and modules hosted in other processes (docs/protocol.md, "Module link").
///
/// The core binds a ROUTER; each remote module connects a DEALER and says `hello` every second.
/// The core pushes the module's events from its cursor a window at a time (the dispatcher's batch):
/// the module applies them in batches and acks each in order after its own commit, and the next
/// window goes once the last one is settled, so a slow module holds at most one window of the
/// core's memory. The module appends its outbox through `append`
/// requests that the core answers once the events are durable in its log. A module silent for
/// `silence` is declared gone: its event in flight is given back to the dispatcher, which tries
/// again from the cursor once the module is back.
/// How often a module says hello, and how long a silence means the peer is gone.
public struct LinkTiming: Sendable, Hashable {
    public var hello: Duration
    public var silence: Duration

    public init(hello: Duration = .seconds(1), silence: Duration = .seconds(3)) {
        self.hello = hello
        self.silence = silence
    }

    var silenceMilliseconds: Int32 { Int32(clamping: silence.milliseconds) }
    var helloMilliseconds: Int32 { Int32(clamping: hello.milliseconds) }
}

// MARK: core side

/// The core's end: one ROUTER for every remote module, a `Subscriber` per module for its
/// dispatcher (`subscriber(for:patterns:)`), and appends into the log for their outboxes.
public final class ModuleLinkServer: Service, Sendable {
    private struct Peer {
        var route: [UInt8]
        /// The process instance it said hello as (its route when it did not say).
        var instance: String
        var lastHeard: ContinuousClock.Instant
    }

    /// A window out to a module: its first `acked` events are settled.
    private struct Pending {
        let events: [StoredEvent]
        var acked = 0
        let continuation: CheckedContinuation<BatchDelivery, Never>

        func ending(_ failure: any Error) -> (CheckedContinuation<BatchDelivery, Never>, BatchDelivery) {
            (continuation, BatchDelivery(applied: acked, failure: failure))
        }
    }

    private struct State {
        var peers: [String: Peer] = [:]
        var pending: [String: Pending] = [:]
        var outgoing: [[[UInt8]]] = []
        /// In a cluster: the fencing token of this node's lease on each module it runs.
        var tokens: [String: Int64] = [:]
        /// Refusals logged already (module, instance and reason): a refused module says hello every second.
        var refusalsLogged: Set<String> = []

        /// Queues `events` for `module` at `route` as one window, under this node's token.
        mutating func sendWindow(_ events: ArraySlice<StoredEvent>, of module: String, to route: [UInt8]) {
            outgoing.append([route] + CoreMessage.window(token: tokens[module]).frames)
            outgoing += events.map { [route] + CoreMessage.event(offset: $0.offset, envelope: $0.json).frames }
        }
    }

    private let socket: Socket
    private let log: EventLog
    private let decoder: EnvelopeDecoder
    private let modules: Set<String>
    private let security: TransportSecurity?
    private let timing: LinkTiming
    private let logger: Logger
    private let stop: StopSignal
    private let state = NIOLockedValueBox(State())
    /// An outbox event as a module sent it, and the key it sent it with.
    private typealias ReceivedAppend = (route: [UInt8], id: String, json: [UInt8], client: String?)
    public let endpoint: String

    /// Binds `endpoint` for the remote modules named in `modules`.
    /// `highWaterMark`: how many messages may wait for each module, each way (tests make it small).
    public init(context: Context, endpoint: String, modules: Set<String>, log: EventLog, decoder: EnvelopeDecoder, security: TransportSecurity?,
                timing: LinkTiming = .init(), highWaterMark: Int32 = 10_000, logger: Logger) throws {
        stop = try StopSignal()
        socket = try context.boundSocket(.router, endpoint: endpoint, role: "module link", key: "link.endpoint") { socket throws(ZeroMQError) in
            try socket.setHighWaterMarks(send: highWaterMark, receive: highWaterMark)
            try socket.setMaxMessageSize(Int64(max(decoder.maxBytes * 2, 1 << 20)))
            try socket.setRouterMandatory(true)
            try socket.setHeartbeat(intervalMilliseconds: timing.helloMilliseconds, timeoutMilliseconds: timing.silenceMilliseconds)
            try socket.secure(with: security)
        }
        self.endpoint = socket.lastEndpoint
        self.log = log
        self.decoder = decoder
        self.modules = modules
        self.security = security
        self.timing = timing
        self.logger = logger
    }

    /// Events in one window (the batch of a remote module's dispatcher). Four times an in-process
    /// batch: each window costs a round trip, and the window's events are decoded on each side
    /// while the module's transaction waits for them. A larger batch in-process measured slower.
    public static let windowSize = 1024

    /// The subscriber that delivers `module`'s events over this link.
    public func subscriber(for module: String, patterns: [EventPattern]) -> any Subscriber {
        RemoteSubscriber(subscriptionName: module, patterns: patterns, link: self)
    }

    /// In a cluster: this node holds the lease on `module` under `token` (nil: no longer), and
    /// says so with each window, so that the module leaves the windows of a node that lost it.
    public func hold(_ token: Int64?, for module: String) {
        state.withLockedValue { $0.tokens[module] = token }
    }

    /// Whether `module` said hello recently.
    public func isConnected(_ module: String) -> Bool { state.withLockedValue { $0.peers[module] != nil } }

    public func run() async throws {
        logger.info("module link listening", metadata: ["bus.endpoint": "\(endpoint)", "wzt.modules": "\(modules.sorted().joined(separator: ","))"])
        try await SocketThread.run(name: "wzt.link", stop: stop) { try self.loop() }
        let pending = state.withLockedValue { state in
            defer { state.pending.removeAll() }
            return state.pending.values.map(\.continuation)
        }
        for continuation in pending { continuation.resume(returning: BatchDelivery(applied: 0, failure: SubscriberUnavailable("the module link is closed"))) }
    }

    /// Sends `events` to `module` as one window and returns once the module settled them: how
    /// many it acked after its commit, in order, and why the next one was not.
    func deliver(_ events: ArraySlice<StoredEvent>, to module: String) async -> BatchDelivery {
        await withCheckedContinuation { (continuation: CheckedContinuation<BatchDelivery, Never>) in
            let (refusal, replaced) = state.withLockedValue { state -> ((any Error)?, Pending?) in
                // Checked under the lock that `giveBack` takes: a cancellation is seen here or finds the window there.
                guard !Task.isCancelled else { return (SubscriberUnavailable("this node no longer runs module \(module)"), nil) }
                guard let peer = state.peers[module] else { return (SubscriberUnavailable("module \(module) is not connected to \(endpoint)"), nil) }
                let replaced = state.pending.updateValue(Pending(events: Array(events), continuation: continuation), forKey: module)
                state.sendWindow(events, of: module, to: peer.route)
                return (nil, replaced)
            }
            if let (waiting, result) = replaced?.ending(SubscriberUnavailable("module \(module): a newer window replaced this one")) {
                waiting.resume(returning: result)
            }
            if let refusal { continuation.resume(returning: BatchDelivery(applied: 0, failure: refusal)) } else { stop.wakeup.signal() }
        }
    }

    private func loop() throws {
        var poller = Poller([.socket(socket), .fileDescriptor(stop.wakeup.fileDescriptor)])
        while !stop.isRequested {
            // Messages a module's full queue did not take are tried again soon.
            let readable = try poller.poll(timeoutMilliseconds: state.withLockedValue { $0.outgoing.isEmpty } ? 250 : 5)
            if readable[1] { stop.wakeup.drain() }
            try sendOutgoing()
            if readable[0] { try receiveAll() }
            dropSilentPeers()
        }
        socket.close()
    }

    private func sendOutgoing() throws {
        let messages = state.withLockedValue { state in
            defer { state.outgoing.removeAll(keepingCapacity: true) }
            return state.outgoing
        }
        // A module's queue that is full takes nothing more in this pass: its messages wait, in
        // order, for the next (an event sent after a gap would be applied before the missing ones).
        var full: Set<[UInt8]> = []
        var waiting: [[[UInt8]]] = []
        for message in messages {
            let route = message[0]
            guard full.isEmpty || !full.contains(route) else {
                waiting.append(message)
                continue
            }
            do {
                try socket.send(message, dontWait: true)
            } catch {
                if error.isAgain {
                    full.insert(route)
                    waiting.append(message)
                    continue
                }
                guard error.code == EHOSTUNREACH else { throw error }
                // The module went away between its hello and this send; its window goes back to the dispatcher.
                forget(route: route, reason: "the connection is gone")
            }
        }
        if !waiting.isEmpty { state.withLockedValue { $0.outgoing.insert(contentsOf: waiting, at: 0) } }
    }

    private func receiveAll() throws {
        // Outbox events are read once every message is taken: the acks among them settle first, so
        // that the next window goes out without waiting for them to be decoded.
        var received: [ReceivedAppend] = []
        while let (frames, client) = try socket.receiveWithUserID(dontWait: true) {
            guard let route = frames.first, let message = ModuleMessage(frames: frames.dropFirst()) else { continue }
            if case .hello(let module, let version, let instance) = message {
                hello(route: route, module: module, version: version, instance: instance ?? route.map { String($0) }.joined(separator: "."), client: client)
                continue
            }
            guard let module = touch(route) else {
                // Not (or no longer) registered: it says hello again within a second.
                continue
            }
            switch message {
            case .hello:
                continue
            case .settled(let settlement, let offset, let reason):
                settle(module, offset: offset, settlement: settlement, reason: reason)
            case .append(let id, let json):
                received.append((route, id, json, client))
            case .bye:
                forget(route: route, reason: "its process stopped", expected: true)
            }
        }
        guard !received.isEmpty else { return }
        append(received)
    }

    /// Checks what modules sent for their outboxes and appends it to the log in one go; answers each.
    private func append(_ received: [ReceivedAppend]) {
        var appends: [(route: [UInt8], envelope: Envelope)] = []
        for ((route, id, _, client), envelope) in zip(received, decoder.decodeEach(received.map(\.json))) {
            do {
                let envelope = try envelope.get()
                // The module waits for the answer under the id it sent: one the envelope does not carry would never come.
                guard EventID.canonical(id) == envelope.id else {
                    throw EnvelopeError(.badID, "the append names id \(quoted(id, limit: 64)), and the event's id is \(envelope.id)")
                }
                if let security, !security.allows(client, toPublish: envelope.type.rawValue) {
                    throw EnvelopeError(.forbidden, "key \(client ?? "(none)") may not publish \(envelope.type)")
                }
                appends.append((route, envelope))
            } catch {
                let refusal = error as? EnvelopeError ?? EnvelopeError(.malformedJSON, "unreadable event")
                try? socket.send([route] + CoreMessage.nack(id: id, code: refusal.code.rawValue, reason: refusal.reason).frames, dontWait: true)
            }
        }
        guard !appends.isEmpty else { return }
        log.append(appends.map(\.envelope)) { [self, appends] result in
            let replies: [[[UInt8]]] = appends.indices.map { index in
                let (route, envelope) = appends[index]
                switch result {
                case .success(let appended):
                    return [route] + CoreMessage.appended(id: envelope.id, offset: appended[index].offset, duplicate: appended[index].duplicate).frames
                case .failure(let error):
                    return [route] + CoreMessage.nack(id: envelope.id, code: error.code.rawValue, reason: error.reason).frames
                }
            }
            state.withLockedValue { $0.outgoing += replies }
            stop.wakeup.signal()
        }
    }

    private func hello(route: [UInt8], module: String, version: String?, instance: String, client: String?) {
        var refusal: String? = if !modules.contains(module) {
            "this core does not host \(module.isEmpty ? "(no name)" : quoted(module, limit: 64)) remotely; its modules.remote lists \(modules.sorted().joined(separator: ", "))"
        } else if let security, !security.allows(client, toHost: module) {
            "the key \(client ?? "(none)") may not host \(quoted(module, limit: 64)); list it in that key's `modules` in the core's security.keys"
        } else if version != LinkProtocol.version {
            "link protocol version \(version.map { quoted($0, limit: 64) } ?? "(none)") is not \(LinkProtocol.version)"
        } else { nil }
        let silence = timing.silence
        // What the log says after the lock: a process newly linked, and the silent one it replaces.
        var newlyLinked = false
        var replaced: Peer?
        let resend = state.withLockedValue { state -> Bool in
            let known = state.peers[module]
            // Two processes hosting one module would each apply part of its events, in two stores.
            if refusal == nil, let known, known.instance != instance, ContinuousClock.now - known.lastHeard < silence {
                refusal = """
                    \(module) is linked from another process already; a module runs in one process at a time. \
                    Stop the other one (it is forgotten \(silence) after it falls silent)
                    """
            }
            if let refusal {
                // Once per process and reason (a refused process says hello every second), in a
                // set that peers naming ever new modules or instances cannot grow without end.
                if state.refusalsLogged.count >= 1_000 { state.refusalsLogged.removeAll() }
                if state.refusalsLogged.insert("\(module)\u{0}\(instance)\u{0}\(refusal)").inserted {
                    logger.warning("module refused", metadata: ["wzt.module": "\(quoted(module, limit: 64))", "wzt.instance": "\(quoted(instance, limit: 64))",
                                                                "bus.reason": "\(refusal)"])
                }
                return false
            }
            state.peers[module] = Peer(route: route, instance: instance, lastHeard: .now)
            newlyLinked = known?.route != route
            // What waits for the connection this one replaces will not be read there.
            if let known, newlyLinked { state.outgoing.removeAll { $0.first == known.route } }
            if let known, known.instance != instance { replaced = known }
            // Reconnected under a new route while a window was out: send what is unsettled again (the inbox makes that harmless).
            guard newlyLinked, let pending = state.pending[module] else { return false }
            state.sendWindow(pending.events[pending.acked...], of: module, to: route)
            return true
        }
        if let refusal {
            try? socket.send([route] + CoreMessage.refused(reason: refusal).frames, dontWait: true)
            return
        }
        if let replaced {
            // A process that crashed said no `bye`; the hello of the next one can be what finds it silent.
            logger.warning("module link lost", metadata: ["wzt.module": "\(module)", "wzt.instance": "\(quoted(replaced.instance, limit: 64))",
                                                          "bus.reason": "silent for longer than \(silence); another process said hello"])
        }
        if newlyLinked {
            logger.info("module linked", metadata: ["wzt.module": "\(module)", "wzt.instance": "\(quoted(instance, limit: 64))"])
        }
        if resend { stop.wakeup.signal() }
        if (try? socket.send([route] + CoreMessage.welcome.frames, dontWait: true)) == nil { forget(route: route, reason: "the connection is gone") }
    }

    /// The module behind `route`, noting that it was heard from now.
    private func touch(_ route: [UInt8]) -> String? {
        state.withLockedValue { state in
            guard let (module, _) = state.peers.first(where: { $0.value.route == route }) else { return nil }
            state.peers[module]?.lastHeard = .now
            return module
        }
    }

    /// Settles the window's next event; a settlement of any other offset (a repeat, or one for a
    /// window given back) is ignored.
    private func settle(_ module: String, offset: Int64, settlement: ModuleMessage.Settlement, reason: String) {
        let done = state.withLockedValue { state -> (CheckedContinuation<BatchDelivery, Never>, BatchDelivery)? in
            guard var pending = state.pending[module], pending.acked < pending.events.count, pending.events[pending.acked].offset == offset else { return nil }
            switch settlement {
            case .ack:
                pending.acked += 1
                guard pending.acked == pending.events.count else {
                    state.pending[module] = pending
                    return nil
                }
                state.pending[module] = nil
                return (pending.continuation, BatchDelivery(applied: pending.acked))
            case .busy:
                state.pending[module] = nil
                return pending.ending(SubscriberUnavailable("module \(module) cannot store now: \(reason)"))
            case .fail:
                state.pending[module] = nil
                return pending.ending(RemoteHandlerFailure(module: module, reason: reason))
            }
        }
        guard let (continuation, result) = done else { return }
        continuation.resume(returning: result)
    }

    private func dropSilentPeers() {
        let deadline = ContinuousClock.now - timing.silence
        let silent = state.withLockedValue { state in state.peers.filter { $0.value.lastHeard < deadline }.map(\.value.route) }
        for route in silent { forget(route: route, reason: "silent for longer than \(timing.silence)") }
    }

    /// Ends the wait for `module`'s acks (the unsettled events count as not delivered).
    func giveBack(_ module: String, reason: String) {
        let pending = state.withLockedValue { $0.pending.removeValue(forKey: module) }
        guard let (continuation, result) = pending?.ending(SubscriberUnavailable("module \(module): \(reason)")) else { return }
        continuation.resume(returning: result)
    }

    /// Forgets the module linked over `route`; `expected` when it said it stops.
    private func forget(route: [UInt8], reason: String, expected: Bool = false) {
        let gone: (String, Peer, Pending?)? = state.withLockedValue { state in
            // What still waits to be sent there is not for the process linked next.
            state.outgoing.removeAll { $0.first == route }
            guard let (module, peer) = state.peers.first(where: { $0.value.route == route }) else { return nil }
            state.peers[module] = nil
            return (module, peer, state.pending.removeValue(forKey: module))
        }
        guard let (module, peer, pending) = gone else { return }
        logger.log(level: expected ? .info : .warning, expected ? "module unlinked" : "module link lost",
                   metadata: ["wzt.module": "\(module)", "wzt.instance": "\(quoted(peer.instance, limit: 64))", "bus.reason": "\(reason)"])
        guard let (continuation, result) = pending?.ending(SubscriberUnavailable("module \(module) went away: \(reason)")) else { return }
        continuation.resume(returning: result)
    }
}

/// The core refused an event of the module's outbox (its nack code and reason).
public struct AppendRefused: Error, CustomStringConvertible, Sendable {
    public let code: String
    public let reason: String
    public var description: String { "\(code): \(reason)" }
}

/// A remote module's handler failed on an event; the dispatcher retries and, in the end, dead-letters it.
public struct RemoteHandlerFailure: Error, CustomStringConvertible, Sendable {
    public let module: String
    public let reason: String
    public var description: String { "module \(module): \(reason)" }
}

private struct RemoteSubscriber: Subscriber {
    let subscriptionName: String
    let patterns: [EventPattern]
    let link: ModuleLinkServer

    func deliver(_ event: StoredEvent) async throws {
        if let failure = await deliver(batch: [event][...]).failure { throw failure }
    }

    func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await link.deliver(events, to: subscriptionName)
            } onGracefulShutdown: {
                // Do not wait for a slow module on shutdown: the event is delivered again after the
                // restart, from the cursor, and the module's inbox makes the repeat harmless.
                link.giveBack(subscriptionName, reason: "the core is shutting down")
            }
        } onCancel: {
            // This node lost its lease on the module: the node that took it over delivers from the cursor.
            link.giveBack(subscriptionName, reason: "this node no longer runs the module")
        }
    }
}

// MARK: module side

/// A module's end of the link, in the process that hosts it: an `EventSource` that hands the
/// core's events to the module, and an `EventAppender` for its outbox. A `Service` that must run
/// before (and stop after) the module's host.
///
/// With several core nodes (a cluster) it connects to each and says hello to each: the node that
/// runs the module sends it windows, the others stay quiet. Answers go back to the node that sent
/// the window; the outbox goes to the node that sent the latest one, or another connected node
/// (every node appends to the one log). A window whose fencing token is lower than one already
/// seen comes from a node that lost the module and has not noticed yet: it is answered `busy` and
/// left unapplied, and `holdToken` hears of each higher token before anything is applied under it.
public final class ModuleLinkClient: Service, EventSource, EventAppender, Sendable {
    private struct AppendWait {
        let ids: [String]
        var results: [String: Result<Appended, AppendRefused>] = [:]
        /// The ids without an answer yet (an id twice in `ids` is answered once).
        var unanswered: Int
        var frames: [[[UInt8]]]
        var sentAt: ContinuousClock.Instant
        let continuation: CheckedContinuation<[Appended], any Error>
    }

    private struct State {
        /// Messages for the core node at an index of `endpoints`; nil: the one `outboxCore` names.
        var outgoing: [(core: Int?, frames: [[UInt8]])] = []
        var appends: [Int: AppendWait] = [:]
        /// The appends waiting for each id, so that an answer finds them without a search.
        var waitingFor: [String: [Int]] = [:]
        var nextAppend = 0
        /// The core nodes that welcomed this module and were heard from within the silence.
        var connected: Set<Int> = []
        /// The core node that sent the latest window.
        var feeding: Int?
        var stopped = false

        /// Where the outbox goes: the node that feeds the module, else any node that answers.
        var outboxCore: Int { feeding.flatMap { connected.contains($0) ? $0 : nil } ?? connected.min() ?? feeding ?? 0 }
    }

    private let sockets: [Socket]
    private let module: String
    /// New at every start, said with each hello: the core links a module from one process at a time.
    private let instance = UUID().uuidString
    private let endpoints: [String]
    private let decoder: EnvelopeDecoder
    private let timing: LinkTiming
    private let holdToken: @Sendable (Int64) -> Void
    /// The highest token the module's store was written under before this process started.
    private let fencedAt: Int64
    private let logger: Logger
    private let stop: StopSignal
    private let state = NIOLockedValueBox(State())
    private let arrivals: AsyncStream<Arrival>
    private let arrivalSink: AsyncStream<Arrival>.Continuation

    /// The events read from one core node in one go, and the one after them this module cannot read.
    private struct Arrival: Sendable {
        /// The index of the node in `endpoints`.
        var core: Int
        /// Whether the node began a new window with these events, and the window's fencing token.
        var startsWindow = false
        var token: Int64?
        /// The events as they came, before `hand` decodes them.
        var received: [(offset: Int64, json: [UInt8])] = []
        var events: [StoredEvent] = []
        var unreadable: (offset: Int64, reason: String)?
    }

    /// Connects to the core's link at `endpoint`.
    public convenience init(context: Context, endpoint: String, module: String, curve: CurveCredentials?, decoder: EnvelopeDecoder,
                            timing: LinkTiming = .init(), logger: Logger) throws {
        try self.init(context: context, endpoints: [endpoint], module: module, curve: curve, decoder: decoder, timing: timing, logger: logger)
    }

    /// Connects to the link of each core node in `endpoints` (one, or the nodes of a cluster).
    /// `fencedAt`: the token the module's store holds from before (0: none), the highest seen so far.
    /// `decoder`: the module's own, which the events arrive decoded with.
    public init(context: Context, endpoints: [String], module: String, curve: CurveCredentials?, decoder: EnvelopeDecoder,
                timing: LinkTiming = .init(), holdToken: @escaping @Sendable (Int64) -> Void = { _ in }, fencedAt: Int64 = 0, logger: Logger) throws {
        stop = try StopSignal()
        sockets = try endpoints.map { endpoint throws(ZeroMQError) in
            let socket = try context.socket(.dealer)
            try socket.setHighWaterMarks(send: 10_000, receive: 10_000)
            try socket.setHeartbeat(intervalMilliseconds: timing.helloMilliseconds, timeoutMilliseconds: timing.silenceMilliseconds)
            try socket.secure(with: curve)
            try socket.connect(endpoint)
            return socket
        }
        self.module = module
        self.endpoints = endpoints
        self.decoder = decoder
        self.timing = timing
        self.holdToken = holdToken
        self.fencedAt = fencedAt
        var logger = logger
        logger[metadataKey: "wzt.module"] = "\(module)"
        self.logger = logger
        (arrivals, arrivalSink) = AsyncStream.makeStream(of: Arrival.self, bufferingPolicy: .unbounded)
    }

    public func run() async throws {
        try await SocketThread.run(name: "wzt.link.\(module)", stop: stop) { try self.loop() }
        arrivalSink.finish()
        let waiting = state.withLockedValue { state in
            state.stopped = true
            defer {
                state.appends.removeAll()
                state.waitingFor.removeAll()
            }
            return state.appends.values.map(\.continuation)
        }
        for continuation in waiting { continuation.resume(throwing: SubscriberUnavailable("the link to the core is closed")) }
    }

    /// Hands the events from the core to `subscriber` in batches, and acks each, in order, once
    /// its batch is durable. The first that fails is settled `fail` (or `busy`), and the rest of
    /// its window is left, also what of it arrives later: the core sends it again, in a new
    /// window, after the failed one.
    public func deliver(to subscriber: any Subscriber, logger: Logger) async throws {
        await withGracefulShutdownHandler {
            // The nodes whose current window failed, and the token of each node's current window.
            var skippingRestOfWindow = Set<Int>()
            var windowTokens: [Int: Int64] = [:]
            var highestToken = fencedAt
            for await arrival in arrivals {
                if arrival.startsWindow {
                    skippingRestOfWindow.remove(arrival.core)
                    windowTokens[arrival.core] = arrival.token
                }
                guard !skippingRestOfWindow.contains(arrival.core),
                      let first = arrival.events.first?.offset ?? arrival.unreadable?.offset else { continue }
                let token = windowTokens[arrival.core]
                if let refusal = fenceRefusal(of: token, from: arrival.core, highest: highestToken) {
                    enqueue([.settled(.busy, offset: first, reason: refusal)], to: arrival.core)
                    skippingRestOfWindow.insert(arrival.core)
                    continue
                }
                if let token, token > highestToken {
                    highestToken = token
                    holdToken(token)
                    logger.notice("fed by core node", metadata: ["bus.endpoint": "\(endpoints[arrival.core])", "wzt.token": "\(token)"])
                }
                // A subscriber may take fewer than it was given without failing (a transaction's bound).
                var result = BatchDelivery(applied: 0)
                while result.failure == nil, result.applied < arrival.events.count {
                    let more = await subscriber.deliver(batch: arrival.events[result.applied...])
                    guard more.applied > 0 || more.failure != nil else { break }
                    result = BatchDelivery(applied: result.applied + more.applied, failure: more.failure)
                }
                var replies = arrival.events.prefix(result.applied).map { ModuleMessage.settled(.ack, offset: $0.offset, reason: "") }
                if let failure = result.failure, result.applied < arrival.events.count {
                    let event = arrival.events[result.applied]
                    logger.warning("event not handled", metadata: ["bus.offset": "\(event.offset)", "bus.type": "\(event.type)", "bus.error": "\(failure)"])
                    // A stop of this process cuts a delivery short (its transaction interrupted):
                    // not the event's fault, so not one of its attempts.
                    let stopping = Task.isShuttingDownGracefully || Task.isCancelled
                    replies.append(.settled(stopping || Dispatcher.isWaitNotFailure(failure) ? .busy : .fail, offset: event.offset,
                                            reason: stopping ? "the module process is stopping (\(failure))" : String(describing: failure)))
                    skippingRestOfWindow.insert(arrival.core)
                } else if let (offset, reason) = arrival.unreadable {
                    logger.warning("event not handled", metadata: ["bus.offset": "\(offset)", "bus.error": "\(reason)"])
                    replies.append(.settled(.fail, offset: offset, reason: reason))
                    skippingRestOfWindow.insert(arrival.core)
                }
                enqueue(replies, to: arrival.core)
            }
        } onGracefulShutdown: {
            self.arrivalSink.finish()
        }
    }

    /// Why a window under `token` from the node at `core` is not applied when `highest` is the
    /// highest token seen: a lower one comes from a node that lost the module, none from a core
    /// outside the cluster that feeds it. Nil when it is applied.
    private func fenceRefusal(of token: Int64?, from core: Int, highest: Int64) -> String? {
        switch token {
        case let token? where token < highest:
            "fencing token \(token) of \(endpoints[core]) is stale: a node with token \(highest) runs this module now"
        case nil where highest > 0:
            """
            \(endpoints[core]) sends no fencing token, and nodes of a cluster feed this module (token \(highest)): \
            list only the nodes of that cluster in [core] endpoints
            """
        default:
            nil
        }
    }

    /// Sends the envelopes to the core's log; returns once each is durable there. Unanswered
    /// requests are sent again (same ids: the log keeps each once) until the link closes or the
    /// task is cancelled: a module that stops while the core is away leaves its outbox for its
    /// next start.
    public func append(_ envelopes: [Envelope]) async throws -> [Appended] {
        guard !envelopes.isEmpty else { return [] }
        let key = state.withLockedValue { state in
            defer { state.nextAppend += 1 }
            return state.nextAppend
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let refusal = state.withLockedValue { state -> (any Error)? in
                    // Checked under the lock the cancellation handler takes: it is seen here, or the handler finds the wait.
                    if Task.isCancelled { return CancellationError() }
                    guard !state.stopped else { return SubscriberUnavailable("the link to the core is closed") }
                    let frames = envelopes.map { ModuleMessage.append(id: $0.id, envelope: $0.json).frames }
                    let ids = envelopes.map(\.id)
                    let distinct = Set(ids)
                    state.appends[key] = AppendWait(ids: ids, unanswered: distinct.count, frames: frames, sentAt: .now, continuation: continuation)
                    for id in distinct { state.waitingFor[id, default: []].append(key) }
                    state.outgoing += frames.map { (nil, $0) }
                    return nil
                }
                if let refusal { continuation.resume(throwing: refusal) } else { stop.wakeup.signal() }
            }
        } onCancel: {
            // Answers that still come find no wait and are ignored.
            let cancelled = state.withLockedValue { state -> AppendWait? in
                guard let wait = state.appends.removeValue(forKey: key) else { return nil }
                for id in Set(wait.ids) {
                    state.waitingFor[id]?.removeAll { $0 == key }
                    if state.waitingFor[id]?.isEmpty == true { state.waitingFor[id] = nil }
                }
                return wait
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    private func enqueue(_ messages: [ModuleMessage], to core: Int) {
        guard !messages.isEmpty else { return }
        state.withLockedValue { $0.outgoing += messages.map { (core, $0.frames) } }
        stop.wakeup.signal()
    }

    private func loop() throws {
        var poller = Poller(sockets.map { .socket($0) } + [.fileDescriptor(stop.wakeup.fileDescriptor)])
        let wakeup = sockets.count
        var lastHello = ContinuousClock.now - timing.hello
        var lastHeard = [ContinuousClock.Instant](repeating: .now, count: sockets.count)
        var refusedBefore = Set<Int>()
        while !stop.isRequested {
            if ContinuousClock.now - lastHello >= timing.hello {
                let hello = ModuleMessage.hello(module: module, version: LinkProtocol.version, instance: instance).frames
                for socket in sockets { try? socket.send(hello, dontWait: true) }
                lastHello = .now
            }
            resendUnanswered()
            let (messages, outboxCore) = state.withLockedValue { state in
                defer { state.outgoing.removeAll(keepingCapacity: true) }
                return (state.outgoing, state.outboxCore)
            }
            for (core, frames) in messages {
                // While a node is away the DEALER queues up to its high-water mark; beyond it, the
                // hello/resend cycle sends again, so nothing depends on this one send.
                try? sockets[core ?? outboxCore].send(frames, dontWait: true)
            }
            let readable = try poller.poll(timeoutMilliseconds: 250)
            if readable[wakeup] { stop.wakeup.drain() }
            for (core, socket) in sockets.enumerated() where readable[core] {
                var arrival = Arrival(core: core)
                while let frames = try socket.receive(dontWait: true) {
                    lastHeard[core] = .now
                    guard let message = CoreMessage(frames: frames) else { continue }
                    switch message {
                    case .welcome:
                        if state.withLockedValue({ $0.connected.insert(core).inserted }) {
                            logger.info("linked to the core", metadata: ["bus.endpoint": "\(endpoints[core])"])
                        }
                        refusedBefore.remove(core)
                    case .window(let token):
                        hand(arrival)
                        arrival = Arrival(core: core, startsWindow: true, token: token)
                        state.withLockedValue { $0.feeding = core }
                    case .refused(let reason):
                        if refusedBefore.insert(core).inserted {
                            logger.error("the core refused this module", metadata: ["bus.endpoint": "\(endpoints[core])", "bus.reason": "\(reason)"])
                        }
                    case .event(let offset, let json):
                        arrival.received.append((offset, json))
                    case .appended(let id, let offset, let duplicate):
                        settleAppend(id, .success(Appended(id: id, offset: offset, duplicate: duplicate)))
                    case .nack(let id, let code, let reason):
                        settleAppend(id, .failure(AppendRefused(code: code, reason: reason)))
                    }
                }
                hand(arrival)
            }
            for core in sockets.indices where ContinuousClock.now - lastHeard[core] > timing.silence {
                if state.withLockedValue({ $0.connected.remove(core) != nil }) {
                    logger.warning("the core is silent; reconnecting", metadata: ["bus.endpoint": "\(endpoints[core])"])
                }
            }
        }
        // Said last, so that a process started right after this one is linked at once; the
        // linger gives it the time to leave.
        for socket in sockets {
            try? socket.setLinger(milliseconds: 100)
            try? socket.send(ModuleMessage.bye.frames, dontWait: true)
            socket.close()
        }
    }

    /// Gives the module what arrived, decoded. Decoded here, on every core, and handed over
    /// decoded: the module's writer waits for the window, and need not read the same bytes again.
    private func hand(_ arrival: Arrival) {
        guard !arrival.received.isEmpty || arrival.startsWindow else { return }
        var decoded = arrival
        decoded.received = []
        for (event, envelope) in zip(arrival.received, decoder.decodeEach(arrival.received.map(\.json))) {
            switch envelope {
            case .success(let envelope):
                decoded.events.append(StoredEvent(offset: event.offset, id: envelope.id, type: envelope.type.rawValue, subject: envelope.subject,
                                                  json: event.json, decoded: envelope.json == event.json ? envelope : nil))
            case .failure(let error):
                // Settled after the events before it, so that the core hears of them in order; the
                // rest of the window is left, and comes again in the window after it.
                decoded.unreadable = (event.offset, "this module cannot read the event: \(error)")
                arrivalSink.yield(decoded)
                return
            }
        }
        arrivalSink.yield(decoded)
    }

    private func resendUnanswered() {
        let deadline = ContinuousClock.now - timing.silence
        state.withLockedValue { state in
            for (key, wait) in state.appends where wait.sentAt < deadline {
                state.outgoing += zip(wait.ids, wait.frames).filter { wait.results[$0.0] == nil }.map { (nil, $0.1) }
                state.appends[key]?.sentAt = .now
            }
        }
    }

    /// Answers every append waiting for `id`: the core's answer holds for each request that carried the event.
    private func settleAppend(_ id: String, _ result: Result<Appended, AppendRefused>) {
        let done = state.withLockedValue { state -> [(CheckedContinuation<[Appended], any Error>, Result<[Appended], AppendRefused>)] in
            guard let keys = state.waitingFor.removeValue(forKey: id) else { return [] }
            return keys.compactMap { key in
                // Changed in place: a copy of the wait would copy its answers, once per answer.
                guard state.appends[key] != nil, state.appends[key]?.results.updateValue(result, forKey: id) == nil else { return nil }
                state.appends[key]?.unanswered -= 1
                guard let wait = state.appends[key], wait.unanswered == 0 else { return nil }
                state.appends[key] = nil
                let answers = wait.ids.compactMap { wait.results[$0] }
                let outcome = Result { () throws(AppendRefused) in try answers.map { answer throws(AppendRefused) in try answer.get() } }
                return (wait.continuation, outcome)
            }
        }
        for (continuation, outcome) in done { continuation.resume(with: outcome.mapError { $0 as any Error }) }
    }
}
