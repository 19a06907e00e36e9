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
        let feed = try EventFeed(context: Context(), live: egress, replay: replay, types: patterns, from: from, curve: credentials)
        var printer = Printer(json: json, limit: count)
        while !printer.done {
            guard let event = try feed.next() else { continue }
            printer.show(offset: event.offset, json: event.json)
        }
    }
}

private struct Printer {
    let json: Bool
    let limit: Int?
    private(set) var shown = 0

    var done: Bool { limit.map { shown >= $0 } ?? false }

    mutating func show(offset: Int64, json envelope: [UInt8]) {
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
