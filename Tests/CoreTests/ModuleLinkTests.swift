import Bus
@testable import BusTransport
import Foundation
import GRDB
import Logging
import ModuleKit
import PropertyBased
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import ServiceLifecycle
import TestSupport
import Testing
import ZeroMQ

/// The module link with both ends in this process: windows of events out, batches applied on the
/// module's side, acks in order, and a failure in the middle of a window.
@Suite(.timeLimit(.minutes(1)))
struct ModuleLinkTests {
    /// The module's side: applies what arrives in batches, records their sizes, and fails the
    /// first try of the event `failOnce` names.
    final class ModuleSide: Subscriber {
        let subscriptionName = "sample"
        let patterns: [EventPattern] = [.all]
        let failOnce: Int64
        let applied = NIOLockedValueBox<[Int64]>([])
        let batches = NIOLockedValueBox<[Int]>([])
        let tried = NIOLockedValueBox<Set<Int64>>([])

        init(failOnce: Int64) { self.failOnce = failOnce }

        func deliver(_ event: StoredEvent) async throws {
            let first = tried.withLockedValue { $0.insert(event.offset).inserted }
            if event.offset == failOnce, first { throw Refused() }
            applied.withLockedValue { $0.append(event.offset) }
        }

        func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery {
            batches.withLockedValue { $0.append(events.count) }
            return await deliverOneAtATime(events)
        }
    }

    struct Refused: Error {}

    /// Runs the module's delivery loop as a service beside the link's own.
    struct Delivering: Service {
        let client: ModuleLinkClient
        let subscriber: any Subscriber
        var logger = Logger(label: "test")

        func run() async throws { try await client.deliver(to: subscriber, logger: logger) }
    }

    @Test func aWindowIsAppliedInBatchesAndAFailureInItIsRetriedAloneInOrder() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        _ = try await log.append((1...40).map { Samples.note("n\($0)") })
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let context = Context()
        let server = try ModuleLinkServer(context: context, endpoint: "tcp://127.0.0.1:*", modules: ["sample"], log: log, decoder: Samples.decoder,
                                          security: nil, logger: logger)
        let client = try ModuleLinkClient(context: context, endpoint: server.endpoint, module: "sample", curve: nil, decoder: Samples.decoder, logger: logger)
        let module = ModuleSide(failOnce: 17)
        let dispatcher = Dispatcher(log: log, subscriber: server.subscriber(for: "sample", patterns: [.all]),
                                    configuration: .init(retry: RetryPolicy(maxAttempts: 3, backoff: [.zero]), batchSize: 16,
                                                         deadLetterPollInterval: .milliseconds(50)),
                                    logger: logger)
        try await withServices([server, client, Delivering(client: client, subscriber: module), dispatcher]) {
            #expect(await eventually { (try? log.cursor("sample")) == 40 })
        }
        #expect(module.applied.withLockedValue { $0 } == Array(1...40))
        // Windows of 16 arrive whole (as one batch, or a few when the socket hands them over in parts).
        #expect(module.batches.withLockedValue { $0.contains { $0 > 1 } })
        #expect(module.batches.withLockedValue { $0.allSatisfy { $0 <= 16 } })
        #expect(try await log.deadLetters().isEmpty)
    }

    /// A window large enough to be decoded on several threads, with an event in the middle that the
    /// module's contracts cannot read: the events before it are applied, it is dead-lettered, and
    /// the ones after it follow, each once and in order.
    @Test func anEventTheModuleCannotReadEndsItsWindowAndTheRestFollowsInOrder() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        _ = try await log.append((1...49).map { Samples.note("n\($0)") })
        let counted = try Samples.decoder.decode(try EnvelopeEncoder.envelope(NotesCounted(count: 49), source: "/test", subject: "case-1"))
        _ = try await log.append([counted])
        _ = try await log.append((51...200).map { Samples.note("n\($0)") })
        let context = Context()
        let server = try Self.core(context, log, logger: Self.quiet)
        let notesOnly = EnvelopeDecoder(registry: try ContractRegistry([NoteAdded.self]))
        let client = try ModuleLinkClient(context: context, endpoint: server.endpoint, module: "sample", curve: nil, decoder: notesOnly, logger: Self.quiet)
        let module = ModuleSide(failOnce: 0)
        let dispatcher = Dispatcher(log: log, subscriber: server.subscriber(for: "sample", patterns: [.all]),
                                    configuration: .init(retry: RetryPolicy(maxAttempts: 2, backoff: [.zero]), batchSize: 200), logger: Self.quiet)
        let sink = LogSink.Store()
        let delivering = Delivering(client: client, subscriber: module, logger: Logger(label: "test") { _ in LogSink(store: sink) })
        try await withServices([server, client, delivering, dispatcher]) {
            #expect(await eventually { (try? log.cursor("sample")) == 200 })
        }
        #expect(module.applied.withLockedValue { $0 } == Array(1...49) + Array(51...200))
        let deadLetters = try await log.deadLetters()
        #expect(deadLetters.map(\.eventOffset) == [50])
        #expect(deadLetters.first?.error.contains("this module cannot read the event") == true, "\(deadLetters)")
        // The module's side says so too: an operator of the module process looks at its own log.
        let notHandled = sink.entries.filter { $0.message == "event not handled" }
        #expect(!notHandled.isEmpty && notHandled.allSatisfy { $0.metadata["bus.offset"] == "50" && $0.level == .warning }, "\(sink.messages)")
    }

    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// A core's end by hand: a ROUTER on a free port, which sends only what the test sends.
    static func coreByHand(_ context: Context) throws -> Socket {
        let core = try context.socket(.router)
        try core.bind("tcp://127.0.0.1:*")
        return core
    }

    /// A core's end of the link for the module `sample`, quick to notice silence.
    static func core(_ context: Context, _ log: EventLog, timing: LinkTiming = LinkTiming(hello: .milliseconds(100), silence: .seconds(1)),
                     highWaterMark: Int32 = 10_000, logger: Logger) throws -> ModuleLinkServer {
        try ModuleLinkServer(context: context, endpoint: "tcp://127.0.0.1:*", modules: ["sample"], log: log, decoder: Samples.decoder,
                             security: nil, timing: timing, highWaterMark: highWaterMark, logger: logger)
    }

    /// The module's side in a module process fed by the nodes of a cluster: records under which
    /// fencing token (the last one the link said to hold) it applied each event.
    final class FencedSide: Subscriber {
        let subscriptionName = "sample"
        let patterns: [EventPattern] = [.all]
        let held = NIOLockedValueBox<[Int64]>([])
        let applied = NIOLockedValueBox<[(offset: Int64, token: Int64?)]>([])

        func deliver(_ event: StoredEvent) async throws {
            let token = held.withLockedValue { $0.last }
            applied.withLockedValue { $0.append((event.offset, token)) }
        }
    }

    /// What a core node's dispatcher got back from the module, batch by batch.
    struct Answers: Subscriber {
        let inner: any Subscriber
        let failures = NIOLockedValueBox<[String]>([])
        /// The failures the dispatcher counts as attempts (not a wait for the module).
        let counted = NIOLockedValueBox<[String]>([])
        var subscriptionName: String { inner.subscriptionName }
        var patterns: [EventPattern] { inner.patterns }

        func deliver(_ event: StoredEvent) async throws {
            if let failure = await deliver(batch: [event][...]).failure { throw failure }
        }

        func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery {
            let result = await inner.deliver(batch: events)
            if let failure = result.failure {
                failures.withLockedValue { $0.append(String(describing: failure)) }
                if !Dispatcher.isWaitNotFailure(failure) { counted.withLockedValue { $0.append(String(describing: failure)) } }
            }
            return result
        }
    }

    /// A module listing two core nodes applies the windows of the node with the highest token it
    /// has seen; a node that lost the module and sends again with its older token is answered
    /// `busy` and has nothing applied, while the new owner's windows go on.
    @Test func aModuleFedByTwoNodesAppliesOnlyTheWindowsOfTheLatestOwner() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let context = Context()
        let nodes = try (0..<2).map { _ in try Self.core(context, log, logger: logger) }
        // And a core of its own, without a cluster's lease: it sends no token.
        let single = try Self.core(context, log, logger: logger)
        let module = FencedSide()
        let client = try ModuleLinkClient(context: context, endpoints: nodes.map(\.endpoint) + [single.endpoint], module: "sample", curve: nil, decoder: Samples.decoder,
                                          timing: LinkTiming(hello: .milliseconds(100), silence: .seconds(1)),
                                          holdToken: { token in module.held.withLockedValue { $0.append(token) } }, logger: logger)
        let configuration = Dispatcher.Configuration(retry: RetryPolicy(maxAttempts: 3, backoff: [.milliseconds(50)]), batchSize: 4,
                                                     deadLetterPollInterval: .milliseconds(50))
        func feed(from node: Int, until cursor: Int64) async throws -> Answers {
            let answers = Answers(inner: nodes[node].subscriber(for: "sample", patterns: [.all]))
            try await withServices([Dispatcher(log: log, subscriber: answers, configuration: configuration, logger: logger)]) {
                #expect(await eventually { (try? log.cursor("sample")) == cursor }, "node \(node) until \(cursor)")
            }
            return answers
        }
        try await withServices(nodes + [single, client, Delivering(client: client, subscriber: module)] as [any Service]) {
            #expect(await eventually { (nodes + [single]).allSatisfy { $0.isConnected("sample") } })
            _ = try await log.append((1...10).map { Samples.note("n\($0)") })
            nodes[0].hold(1, for: "sample")
            _ = try await feed(from: 0, until: 10)
            // Node 1 takes the module over.
            nodes[1].hold(2, for: "sample")
            _ = try await log.append((11...20).map { Samples.note("n\($0)") })
            _ = try await feed(from: 1, until: 20)
            // Node 0 has not noticed, and sends what follows under its old token.
            _ = try await log.append((21...30).map { Samples.note("n\($0)") })
            let stale = Answers(inner: nodes[0].subscriber(for: "sample", patterns: [.all]))
            try await withServices([Dispatcher(log: log, subscriber: stale, configuration: configuration, logger: logger)]) {
                #expect(await eventually { stale.failures.withLockedValue { $0.count } >= 2 })
            }
            #expect(try await log.cursor("sample") == 20)
            #expect(stale.failures.withLockedValue { $0.allSatisfy { $0.contains("fencing token 1") && $0.contains("stale") } },
                    "\(stale.failures.withLockedValue { $0 })")
            // Nor is the core without a token, once nodes of a cluster fed the module.
            let untokened = Answers(inner: single.subscriber(for: "sample", patterns: [.all]))
            try await withServices([Dispatcher(log: log, subscriber: untokened, configuration: configuration, logger: logger)]) {
                #expect(await eventually { untokened.failures.withLockedValue { $0.count } >= 2 })
            }
            #expect(try await log.cursor("sample") == 20)
            #expect(untokened.failures.withLockedValue { $0.allSatisfy { $0.contains("sends no fencing token") } }, "\(untokened.failures.withLockedValue { $0 })")
            _ = try await feed(from: 1, until: 30)
        }
        #expect(module.held.withLockedValue { $0 } == [1, 2])
        let applied = module.applied.withLockedValue { $0 }
        #expect(applied.map(\.offset) == Array(1...30))
        #expect(applied.allSatisfy { $0.token == ($0.offset <= 10 ? 1 : 2) })
        #expect(try await log.deadLetters().isEmpty)
    }

    /// Two processes hosting one module would each apply part of its events, in two stores: the
    /// second is refused while the first is heard from, and the first gets every event.
    @Test func aSecondProcessForTheSameModuleIsRefusedWhileTheFirstIsLinked() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let logger = Self.quiet
        let context = Context()
        let timing = LinkTiming(hello: .milliseconds(100), silence: .milliseconds(600))
        let core = try Self.core(context, log, timing: timing, logger: logger)
        let first = try ModuleLinkClient(context: context, endpoint: core.endpoint, module: "sample", curve: nil, decoder: Samples.decoder, timing: timing, logger: logger)
        let second = try ModuleLinkClient(context: context, endpoint: core.endpoint, module: "sample", curve: nil, decoder: Samples.decoder, timing: timing, logger: logger)
        let (firstSide, secondSide) = (ModuleSide(failOnce: 0), ModuleSide(failOnce: 0))
        let dispatcher = Dispatcher(log: log, subscriber: core.subscriber(for: "sample", patterns: [.all]), configuration: .init(batchSize: 4), logger: logger)
        try await withServices([core, first, Delivering(client: first, subscriber: firstSide), dispatcher]) {
            #expect(await eventually { core.isConnected("sample") })
            try await withServices([second, Delivering(client: second, subscriber: secondSide)]) {
                _ = try await log.append((1...20).map { Samples.note("n\($0)") })
                #expect(await eventually { (try? log.cursor("sample")) == 20 })
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(firstSide.applied.withLockedValue { $0 } == Array(1...20))
            #expect(secondSide.applied.withLockedValue { $0 }.isEmpty)
        }
    }

    /// A window that does not fit in the module's queue (four messages here) waits for room, in
    /// order: no event reaches the module after a gap, which it would apply before the missing ones.
    @Test func aWindowCutShortByAFullQueueLeavesNoGap() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let context = Context()
        let core = try Self.core(context, log, timing: LinkTiming(hello: .milliseconds(100), silence: .seconds(60)), highWaterMark: 4, logger: Self.quiet)
        let dispatcher = Dispatcher(log: log, subscriber: core.subscriber(for: "sample", patterns: [.all]), configuration: .init(batchSize: 500),
                                    logger: Self.quiet)
        _ = try await log.append((1...500).map { Samples.note("n\($0)") })
        let module = try context.socket(.dealer)
        try module.setHighWaterMarks(send: 1_000, receive: 4)
        try module.setReceiveTimeout(milliseconds: 100)
        try module.connect(core.endpoint)
        try await withServices([core]) {
            // A module that says hello, reads nothing for a while, then everything: slowly, one
            // message at a time, so the core must not find it silent meanwhile. Linked before the
            // dispatcher starts, whose first window would otherwise be one event tried alone.
            try module.send(ModuleMessage.hello(module: "sample", version: LinkProtocol.version, instance: "slow").frames)
            #expect(await eventually { core.isConnected("sample") })
            try await withServices([dispatcher]) {
                try await Task.sleep(for: .milliseconds(500))
                // Read on a thread of its own: a blocking receive must not hold one of the threads
                // the link and the dispatcher run on.
                let windows = try await blocking { () throws -> [[Int64]] in
                    var windows: [[Int64]] = []
                    let until = ContinuousClock.now + .seconds(20)
                    while ContinuousClock.now < until, windows.first?.count != 500 {
                        guard let frames = try module.receive(), let message = CoreMessage(frames: frames) else { continue }
                        switch message {
                        case .window: windows.append([])
                        case .event(let offset, _):
                            // An event before any window counts as a window of its own, which fails the check.
                            if windows.isEmpty { windows.append([]) }
                            windows[windows.count - 1].append(offset)
                        default: break
                        }
                    }
                    return windows
                }
                let first = windows.first ?? []
                let allInOrder = first == Array(1...500)
                #expect(allInOrder, "\(first.count) events, \(zip(first, 1...).first { $0.0 != $0.1 }.map { "offset \($0.0) where \($0.1) was due" } ?? "in order")")
                module.close()
            }
        }
    }

    /// The core's log says when a process links a module, and once when one falls silent: found
    /// by the core's sweep, or by the hello of the next process (a restart after a crash) when
    /// that comes first. Each line names the process.
    @Test func theCoresLogSaysWhoIsLinkedAndWhoFellSilent() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let sink = LogSink.Store()
        let timing = LinkTiming(hello: .milliseconds(100), silence: .seconds(1))
        let context = Context()
        let core = try Self.core(context, log, timing: timing, logger: Logger(label: "test") { _ in LogSink(store: sink) })
        let instances: @Sendable (String) -> [String] = { message in sink.entries.filter { $0.message == message }.map { $0.metadata["wzt.instance"] ?? "" } }
        let linked: @Sendable () -> [String] = { instances("module linked") }
        let lost: @Sendable () -> [LogSink.Entry] = { sink.entries.filter { $0.message == "module link lost" && $0.level == .warning } }
        try await withServices([core]) {
            // A process that crashes says no `bye`: it says hello a few times, then nothing.
            let crashed = try context.socket(.dealer)
            try crashed.connect(core.endpoint)
            for _ in 0..<3 {
                try crashed.send(ModuleMessage.hello(module: "sample", version: LinkProtocol.version, instance: "first").frames)
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(await eventually { linked() == [#""first""#] }, "\(sink.messages)")
            // The next process starts about when the first one's silence runs out, and says hello
            // every 100 ms from a thread of its own, as module processes do.
            try await Task.sleep(for: .milliseconds(1_020))
            let next = try ModuleLinkClient(context: context, endpoint: core.endpoint, module: "sample", curve: nil, decoder: Samples.decoder,
                                            timing: timing, logger: Self.quiet)
            try await withServices([next]) {
                #expect(await eventually { linked().count == 2 }, "\(sink.messages)")
                #expect(linked().first == #""first""#)
                #expect(lost().count == 1, "\(sink.entries.map { "\($0.message) \($0.metadata)" })")
                #expect(lost().first?.metadata["wzt.instance"] == #""first""#)
                #expect(lost().first?.metadata["bus.reason"]?.hasPrefix("silent for longer than") == true)
                // Its further hellos are its heartbeat, not news.
                try await Task.sleep(for: .milliseconds(300))
                #expect(linked().count == 2)
                // While it is linked, each further process is refused, and the core says so once
                // for each, however often it says hello.
                var others: [Socket] = []
                for instance in ["third", "fourth"] {
                    let other = try context.socket(.dealer)
                    try other.connect(core.endpoint)
                    for _ in 0..<3 { try other.send(ModuleMessage.hello(module: "sample", version: LinkProtocol.version, instance: instance).frames) }
                    others.append(other)
                }
                #expect(await eventually { Set(instances("module refused")) == [#""third""#, #""fourth""#] }, "\(sink.messages)")
                #expect(instances("module refused").count == 2)
                for socket in others + [crashed] { socket.close() }
            }
        }
    }

    /// A module process that stops says so: one started right after it (a restart) is linked at
    /// once, instead of refused as a second process until the first has been silent long enough.
    @Test func aProcessStartedRightAfterAnotherStoppedIsLinkedAtOnce() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let logger = Self.quiet
        let context = Context()
        let timing = LinkTiming(hello: .milliseconds(100), silence: .seconds(30))
        let core = try Self.core(context, log, timing: timing, logger: logger)
        let dispatcher = Dispatcher(log: log, subscriber: core.subscriber(for: "sample", patterns: [.all]), configuration: .init(batchSize: 4), logger: logger)
        try await withServices([core, dispatcher]) {
            let first = try ModuleLinkClient(context: context, endpoint: core.endpoint, module: "sample", curve: nil, decoder: Samples.decoder, timing: timing, logger: logger)
            let firstSide = ModuleSide(failOnce: 0)
            try await withServices([first, Delivering(client: first, subscriber: firstSide)]) {
                _ = try await log.append((1...4).map { Samples.note("n\($0)") })
                #expect(await eventually { firstSide.applied.withLockedValue { $0 } == [1, 2, 3, 4] })
            }
            // Forgotten at once: it said it stops (else after 30 s of silence).
            #expect(await eventually(seconds: 2) { !core.isConnected("sample") })
            let second = try ModuleLinkClient(context: context, endpoint: core.endpoint, module: "sample", curve: nil, decoder: Samples.decoder, timing: timing, logger: logger)
            let secondSide = ModuleSide(failOnce: 0)
            try await withServices([second, Delivering(client: second, subscriber: secondSide)]) {
                _ = try await log.append((5...8).map { Samples.note("n\($0)") })
                // Well within the 30 s after which a silent process is forgotten.
                #expect(await eventually(seconds: 5) { secondSide.applied.withLockedValue { $0 } == [5, 6, 7, 8] })
            }
        }
    }

    /// The module's side of a delivery that a stop of its process cuts short: it fails once the
    /// process shuts down, as a transaction interrupted then does.
    final class CutShortSide: Subscriber {
        let subscriptionName = "sample"
        let patterns: [EventPattern] = [.all]
        let started = NIOLockedValueBox(false)

        func deliver(_ event: StoredEvent) async throws {
            if let failure = await deliver(batch: [event][...]).failure { throw failure }
        }

        func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery {
            started.withLockedValue { $0 = true }
            try? await gracefulShutdown()
            return BatchDelivery(applied: 0, failure: Refused())
        }
    }

    /// A module process that stops in the middle of a window answers `busy` for the event in hand:
    /// the event is not at fault, and the core waits for the module without using up an attempt.
    @Test func aDeliveryCutShortByAStopDoesNotCountAgainstTheEvent() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let logger = Self.quiet
        let context = Context()
        // Slow to call the module silent: on a busy machine a late hello would end the window first.
        let timing = LinkTiming(hello: .milliseconds(100), silence: .seconds(10))
        let core = try Self.core(context, log, timing: timing, logger: logger)
        let client = try ModuleLinkClient(context: context, endpoint: core.endpoint, module: "sample", curve: nil, decoder: Samples.decoder, timing: timing,
                                          logger: logger)
        let answers = Answers(inner: core.subscriber(for: "sample", patterns: [.all]))
        let dispatcher = Dispatcher(log: log, subscriber: answers, configuration: .init(batchSize: 4), logger: logger)
        let side = CutShortSide()
        try await withServices([core, client, dispatcher]) {
            try await withServices([Delivering(client: client, subscriber: side)]) {
                _ = try await log.append([Samples.note("n1")])
                #expect(await eventually { side.started.withLockedValue { $0 } })
            }
            // Before the module linked, the core may have found it away: a wait as well.
            #expect(await eventually { answers.failures.withLockedValue { $0 }.contains { $0.contains("cannot store now") } })
            #expect(answers.counted.withLockedValue { $0 }.isEmpty)
        }
    }

    /// A module process started again goes on from the token its store holds: a node under a lower
    /// one, and a core without one, are refused from its first window on.
    @Test func aRestartedModuleProcessGoesOnFromTheTokenItsStoreHolds() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let logger = Self.quiet
        let context = Context()
        let timing = LinkTiming(hello: .milliseconds(100), silence: .seconds(1))
        let (node, single) = (try Self.core(context, log, timing: timing, logger: logger), try Self.core(context, log, timing: timing, logger: logger))
        let module = FencedSide()
        let client = try ModuleLinkClient(context: context, endpoints: [node.endpoint, single.endpoint], module: "sample", curve: nil, decoder: Samples.decoder,
                                          timing: timing, holdToken: { token in module.held.withLockedValue { $0.append(token) } }, fencedAt: 5, logger: logger)
        _ = try await log.append((1...4).map { Samples.note("n\($0)") })
        let configuration = Dispatcher.Configuration(retry: RetryPolicy(maxAttempts: 3, backoff: [.milliseconds(50)]), batchSize: 4)
        try await withServices([node, single, client, Delivering(client: client, subscriber: module)]) {
            #expect(await eventually { node.isConnected("sample") && single.isConnected("sample") })
            node.hold(3, for: "sample")
            for server in [node, single] {
                let answers = Answers(inner: server.subscriber(for: "sample", patterns: [.all]))
                try await withServices([Dispatcher(log: log, subscriber: answers, configuration: configuration, logger: logger)]) {
                    #expect(await eventually { !answers.failures.withLockedValue { $0.isEmpty } })
                }
                #expect(answers.failures.withLockedValue { $0.allSatisfy { $0.contains("stale") || $0.contains("sends no fencing token") } })
            }
            #expect(module.applied.withLockedValue { $0 }.isEmpty)
            node.hold(6, for: "sample")
            try await withServices([Dispatcher(log: log, subscriber: node.subscriber(for: "sample", patterns: [.all]), configuration: configuration, logger: logger)]) {
                #expect(await eventually { (try? log.cursor("sample")) == 4 })
            }
        }
        #expect(module.held.withLockedValue { $0 } == [6])
        #expect(module.applied.withLockedValue { $0 }.map(\.offset) == [1, 2, 3, 4])
    }

    /// A module in another process whose core leaves its append unanswered (the core went away)
    /// stops all the same, within the suite's time limit: the delivery waiting for that answer
    /// gives it up on shutdown, and so does the host's last flush after a while. The batch stays
    /// applied, and the outbox keeps what it published for the next start.
    @Test func aModuleStopsWhileTheCoreLeavesItsAppendUnanswered() async throws {
        let directory = TemporaryDirectory()
        let (context, logger) = (Context(), Self.quiet)
        // It welcomes the module, sends it one window and answers no append.
        let core = try Self.coreByHand(context)
        defer { core.close() }
        try core.setReceiveTimeout(milliseconds: replyTimeoutMilliseconds)
        let client = try ModuleLinkClient(context: context, endpoint: core.lastEndpoint, module: "sample", curve: nil, decoder: Samples.decoder, logger: logger)
        let module = SampleModule()
        let store = try ModuleStore(module: module, path: directory.file("sample.sqlite"))
        let host = ModuleHost(module: module, store: store, source: client, appender: client, decoder: Samples.decoder, rules: Samples.noRules, logger: logger)
        let note = Samples.note("n1")
        try await withServices([client, host]) {
            let appended = try await onOwnThread { () throws -> Bool in
                guard let hello = try core.receive(), let route = hello.first else { return false }
                for message in [CoreMessage.welcome, .window(token: nil), .event(offset: 1, envelope: note.json)] { try core.send([route] + message.frames) }
                while let frames = try core.receive() {
                    if case .append? = ModuleMessage(frames: frames.dropFirst()) { return true }
                }
                return false
            }
            #expect(appended)
        }
        #expect(try SampleModule.notes(in: store).map(\.text) == ["n1"])
        #expect(try store.database.readNow { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM wzt_outbox") } == 1)
    }

    /// A module process that starts with events in its outbox (a crash, or a stop while its core
    /// was gone) relays them before anything else; while its core does not answer, it says that it
    /// waits, still stops when told to, and keeps them for its next start.
    @Test func aModuleStartingWithAnOutboxStopsWhileTheCoreLeavesItUnanswered() async throws {
        let directory = TemporaryDirectory()
        let context = Context()
        let core = try Self.coreByHand(context)
        defer { core.close() }
        try core.setReceiveTimeout(milliseconds: replyTimeoutMilliseconds)
        let client = try ModuleLinkClient(context: context, endpoint: core.lastEndpoint, module: "sample", curve: nil, decoder: Samples.decoder, logger: Self.quiet)
        let module = SampleModule()
        let store = try ModuleStore(module: module, path: directory.file("sample.sqlite"))
        let left = Samples.note("left behind")
        try await store.database.write { db in
            try db.execute(sql: "INSERT INTO wzt_outbox (event_id, envelope) VALUES (?, ?)", arguments: [left.id, Data(left.json)])
        }
        let sink = LogSink.Store()
        let host = ModuleHost(module: module, store: store, source: client, appender: client, decoder: Samples.decoder, rules: Samples.noRules,
                              logger: Logger(label: "test") { _ in LogSink(store: sink) })
        try await withServices([client, host]) {
            let appended = try await onOwnThread { () throws -> Bool in
                while let frames = try core.receive() {
                    if case .append(let id, _)? = ModuleMessage(frames: frames.dropFirst()) { return id == left.id }
                }
                return false
            }
            #expect(appended)
            let waiting = "module waits for its core to take the events its outbox holds, and starts once the core has"
            #expect(await eventually(seconds: 15) { sink.entries.contains { $0.message == waiting && $0.level == .warning && $0.metadata["wzt.outbox"] == "1" } },
                    "\(sink.messages)")
            #expect(!sink.messages.contains("module started"))
        }
        #expect(try store.database.readNow { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM wzt_outbox") } == 1)
    }

    /// An append the core does not answer ends when its task is cancelled.
    @Test func anUnansweredAppendEndsWhenCancelled() async throws {
        let context = Context()
        let core = try Self.coreByHand(context)
        defer { core.close() }
        let client = try ModuleLinkClient(context: context, endpoint: core.lastEndpoint, module: "sample", curve: nil, decoder: Samples.decoder, logger: Self.quiet)
        try await withServices([client]) {
            let appending = Task { try await client.append([Samples.note("n1")]) }
            try await Task.sleep(for: .milliseconds(200))
            appending.cancel()
            await #expect(throws: CancellationError.self) { try await appending.value }
        }
    }

    /// The module's side as a module with an inbox is: an event applied before is acked again
    /// without effect. Records, in its order, each first application and each failed try.
    final class TracingSide: Subscriber {
        let subscriptionName = "sample"
        let patterns: [EventPattern] = [.all]
        /// How many tries of an event fail before one succeeds.
        let failures: @Sendable (Int64) -> Int
        let trace = NIOLockedValueBox<[(offset: Int64, applied: Bool)]>([])
        private let tries = NIOLockedValueBox<[Int64: Int]>([:])

        init(failures: @escaping @Sendable (Int64) -> Int) { self.failures = failures }

        func deliver(_ event: StoredEvent) async throws {
            try trace.withLockedValue { trace in
                guard !trace.contains(where: { $0.offset == event.offset && $0.applied }) else { return }
                let attempt = tries.withLockedValue { $0[event.offset, default: 0] += 1; return $0[event.offset, default: 0] }
                let fails = attempt <= failures(event.offset)
                trace.append((event.offset, !fails))
                if fails { throw Refused() }
            }
        }
    }

    /// Generated runs over the link: events appended in bursts while the dispatcher runs, windows
    /// of any size, and events that fail a few times or always. The module applies each event that
    /// can be applied once and in log order, tries a failing one only before it applies anything
    /// after it, and the others are dead letters; the cursor ends at the last event.
    @Test func windowsKeepTheOrderWhateverFails() async throws {
        let retry = RetryPolicy(maxAttempts: 3, backoff: [.zero])
        let input = zip(Gen.int(in: 0...12).array(of: 1...60), Gen.int(in: 1...9).array(of: 1...8), Gen.int(in: 1...16))
        await propertyCheck(count: 30, input: input) { failureDraws, bursts, batchSize in
            // Most events never fail; some fail once or twice and then pass; a few fail every try.
            let failures = failureDraws.map { max(0, $0 - 9) }
            let total = failures.count
            do {
                let directory = TemporaryDirectory()
                let log = try EventLog(path: directory.file("log.sqlite"))
                defer { log.close() }
                let (context, logger) = (Context(), Self.quiet)
                let server = try Self.core(context, log, logger: logger)
                let client = try ModuleLinkClient(context: context, endpoint: server.endpoint, module: "sample", curve: nil, decoder: Samples.decoder, logger: logger)
                let module = TracingSide { failures[Int($0) - 1] }
                let dispatcher = Dispatcher(log: log, subscriber: server.subscriber(for: "sample", patterns: [.all]),
                                            configuration: .init(retry: retry, batchSize: batchSize, deadLetterPollInterval: .milliseconds(20)), logger: logger)
                try await withServices([server, client, Delivering(client: client, subscriber: module), dispatcher]) {
                    #expect(await eventually { server.isConnected("sample") })
                    try await appendNotes(total, inBursts: bursts, to: log)
                    #expect(await eventually { (try? log.cursor("sample")) == Int64(total) })
                }
                let failing = Set((1...total).filter { failures[$0 - 1] >= retry.maxAttempts }.map(Int64.init))
                let trace = module.trace.withLockedValue { $0 }
                #expect(trace.filter(\.applied).map(\.offset) == (1...Int64(total)).filter { !failing.contains($0) })
                #expect(Set(try await log.deadLetters().map(\.eventOffset)) == failing)
                for offset in failing {
                    let lastTry = trace.lastIndex { $0.offset == offset } ?? -1
                    let firstLater = trace.firstIndex { $0.applied && $0.offset > offset } ?? trace.count
                    #expect(lastTry < firstLater, "event \(offset) was tried after a later one was applied")
                }
            } catch {
                Issue.record("failures \(failures), bursts \(bursts), window \(batchSize): \(error)")
            }
        }
    }
}
