import Foundation
import Testing
@testable import ZeroMQ

struct ZeroMQTests {
    @Test func multipartMessagesArriveWhole() throws {
        let context = Context()
        let pull = try context.socket(.pull)
        try pull.bind("inproc://multipart")
        let push = try context.socket(.push)
        try push.connect("inproc://multipart")
        try push.send([Array("type".utf8), [], Array("payload".utf8)])
        try pull.setReceiveTimeout(milliseconds: 2000)
        let frames = try #require(try pull.receive())
        #expect(frames == [Array("type".utf8), [], Array("payload".utf8)])
    }

    @Test func receiveWithoutWaitingReturnsNilWhenNothingIsQueued() throws {
        let context = Context()
        let pull = try context.socket(.pull)
        try pull.bind("inproc://empty")
        #expect(try pull.receive(dontWait: true) == nil)
    }

    @Test func bindErrorsCarryErrnoAndLibzmqText() throws {
        let context = Context()
        let socket = try context.socket(.router)
        let error = #expect(throws: ZeroMQError.self) { try socket.bind("nonsense://x") }
        #expect(error?.code == EPROTONOSUPPORT)
        #expect(error?.function.contains("nonsense://x") == true)
        #expect(error?.message.isEmpty == false)
    }

    @Test func addressInUseIsReported() throws {
        let context = Context()
        let first = try context.socket(.router)
        try first.bind("tcp://127.0.0.1:*")
        let second = try context.socket(.router)
        let error = #expect(throws: ZeroMQError.self) { try second.bind(first.lastEndpoint) }
        #expect(error?.code == EADDRINUSE)
    }

    @Test func routerRepliesReachTheRightDealer() throws {
        let context = Context()
        let router = try context.socket(.router)
        try router.bind("tcp://127.0.0.1:*")
        let dealers = try (0..<3).map { index in
            let dealer = try context.socket(.dealer)
            try dealer.setRoutingID(Array("dealer-\(index)".utf8))
            try dealer.connect(router.lastEndpoint)
            try dealer.setReceiveTimeout(milliseconds: 2000)
            return dealer
        }
        try router.setReceiveTimeout(milliseconds: 2000)
        for dealer in dealers { try dealer.send("ping") }
        for _ in dealers {
            let frames = try #require(try router.receive())
            try router.send([frames[0], Array("pong to ".utf8) + frames[0]])
        }
        for (index, dealer) in dealers.enumerated() {
            let reply = try #require(try dealer.receive())
            #expect(String(decoding: reply[0], as: UTF8.self) == "pong to dealer-\(index)")
        }
    }

    @Test func pollerWakesForSocketsAndWakeups() throws {
        let context = Context()
        let pull = try context.socket(.pull)
        try pull.bind("inproc://poll")
        let wakeup = try Wakeup()
        var poller = Poller([.socket(pull), .fileDescriptor(wakeup.fileDescriptor)])
        #expect(try poller.poll(timeoutMilliseconds: 0) == [false, false])
        wakeup.signal()
        #expect(try poller.poll(timeoutMilliseconds: 1000) == [false, true])
        wakeup.drain()
        let push = try context.socket(.push)
        try push.connect("inproc://poll")
        try push.send("x")
        #expect(try poller.poll(timeoutMilliseconds: 1000) == [true, false])
    }

    /// Every socket thread of a node makes a wake-up pipe; with no file descriptor left that is
    /// an error the node reports, not a trap (run in a child process, whose descriptors it uses up).
    @Test func aWakeupWithoutFileDescriptorsIsAnError() async {
        await #expect(processExitsWith: .success) {
            var limit = rlimit(rlim_cur: 64, rlim_max: 64)
            guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { exit(2) }
            while open("/dev/null", O_RDONLY) >= 0 {}
            do {
                _ = try Wakeup()
                exit(3)
            } catch let error as ZeroMQError {
                exit(error.code == EMFILE && error.description.contains("ulimit -n") ? 0 : 4)
            } catch {
                exit(5)
            }
        }
    }

    @Test func libraryHasCurve() {
        #expect(zeroMQVersion.hasPrefix("4."))
        #expect(zeroMQHasCurve)
    }
}
