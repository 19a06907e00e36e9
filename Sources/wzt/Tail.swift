import ArgumentParser
import Bus
import BusTransport
import Core
import Foundation
import ZeroMQ

struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow the events a node appends, optionally replaying the log first.",
        discussion: """
            Subscribes to the node's live feed (PUB). With --from, first reads the log from that offset \
            through the replay endpoint until it is caught up. Whenever a live event arrives whose offset \
            is beyond the last one shown, the events in between are read from the replay endpoint first, so \
            nothing is skipped even though the live feed drops under pressure. Exit status 3 when the node \
            does not answer.
            """
    )

    @Option(help: "Replay the log from this offset (inclusive) before following; 0 is the start.")
    var from: Int64?

    @Option(name: .long, help: ArgumentHelp("Only events of these types: a type, a prefix like be.wzt.intake.*, or *.", valueName: "pattern"))
    var type: [String] = []

    @Option(help: ArgumentHelp("Live feed endpoint of the node (default: from --config, else tcp://127.0.0.1:5556).", valueName: "endpoint"))
    var egress: String?

    @Option(help: ArgumentHelp("Replay endpoint of the node (default: from --config, else tcp://127.0.0.1:5557).", valueName: "endpoint"))
    var replay: String?

    @OptionGroup var node: NodeConfigOption

    @OptionGroup var curve: CurveOptions

    @Option(help: "Stop after this many events.")
    var count: Int?

    @Flag(help: "Print each event as one JSON line {\"offset\": N, \"event\": {...}}.")
    var json = false

    func run() throws {
        do {
            try follow()
        } catch let failure as ReplayClient.Failure where failure.unreachable {
            printError("wzt tail: \(failure)")
            throw ExitCode.unreachable
        }
    }

    private func follow() throws {
        var patterns: [EventPattern] = []
        for pattern in type {
            do { patterns.append(try EventPattern(pattern)) } catch { throw ValidationError(error.reason) }
        }
        let configuration = try node.load()
        let egress = egress ?? configuration.map { NodeConfiguration.connectable($0.transport.egressEndpoint) } ?? "tcp://127.0.0.1:5556"
        let replay = replay ?? configuration.map { NodeConfiguration.connectable($0.transport.replayEndpoint) } ?? "tcp://127.0.0.1:5557"
        let credentials = try curve.credentials(nodeKey: configuration?.transport.security?.keys.publicKey)
        let context = Context()
        let live = try context.socket(.sub)
        try live.secure(with: credentials)
        try live.setHighWaterMarks(send: 1000, receive: 100_000)
        for prefix in Set(patterns.isEmpty ? [""] : patterns.map { $0.literalPrefix }) { try live.subscribe(prefix) }
        try live.connect(egress)
        let replayClient = try ReplayClient(context: context, endpoint: replay, curve: credentials)

        var printer = Printer(patterns: patterns, json: json, limit: count)
        // Where to start: the requested offset, or just past the current head.
        var position = try from ?? (replayClient.page(from: 0, limit: 1).head + 1)
        position = try catchUp(from: position, replayClient, &printer)

        var poller = Poller([.socket(live)])
        while !printer.done {
            guard try poller.poll(timeoutMilliseconds: 1000)[0] else { continue }
            while !printer.done, let frames = try live.receive(dontWait: true) {
                guard frames.count == 3, let offset = Int64(String(decoding: frames[1], as: UTF8.self)) else { continue }
                if offset < position { continue }
                if offset > position { position = try catchUp(from: position, replayClient, &printer) }
                if offset == position {
                    printer.show(offset: offset, type: String(decoding: frames[0], as: UTF8.self), json: frames[2])
                    position = offset + 1
                }
            }
        }
    }

    /// Prints what the log holds from `position` up to its head; returns the next offset to show.
    private func catchUp(from position: Int64, _ client: ReplayClient, _ printer: inout Printer) throws -> Int64 {
        var position = position
        while !printer.done {
            let page = try client.page(from: position, limit: 1000, types: printer.patterns)
            for event in page.events where !printer.done {
                printer.show(offset: event.offset, type: nil, json: event.json)
            }
            position = page.next
            if page.events.isEmpty || position > page.head { break }
        }
        return position
    }
}

private struct Printer {
    let patterns: [EventPattern]
    let json: Bool
    let limit: Int?
    private(set) var shown = 0

    init(patterns: [EventPattern], json: Bool, limit: Int?) {
        self.patterns = patterns
        self.json = json
        self.limit = limit
    }

    var done: Bool { limit.map { shown >= $0 } ?? false }

    mutating func show(offset: Int64, type: String?, json envelope: [UInt8]) {
        if let type, !patterns.isEmpty, !patterns.contains(where: { $0.matches(type) }) { return }
        if json {
            print(#"{"offset":\#(offset),"event":\#(String(decoding: envelope, as: UTF8.self))}"#)
        } else {
            let object = (try? JSONSerialization.jsonObject(with: Data(envelope))) as? [String: Any] ?? [:]
            let fields = [object["type"], object["subject"], object["id"], object["time"]].map { ($0 as? String) ?? "-" }
            print(([String(offset)] + fields).joined(separator: "  "))
        }
        fflush(nil)
        shown += 1
    }
}
