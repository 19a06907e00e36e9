import ArgumentParser
import Bus
import BusTransport
import Core
import Foundation
import ZeroMQ

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish events to a node and wait for each ack.",
        discussion: """
            Reads one CloudEvents JSON object, a JSON array of them, or JSON Lines, from FILE or standard \
            input. Missing `specversion`, `id` (a new UUIDv7) and `time` are filled in. When a reply does \
            not come in time the events are sent again with the same ids, so none is stored twice. \
            Exit status: 0 all acked, 1 some nacked (the reasons are printed), 2 nothing sent (the input, the configuration \
            or the endpoint is not usable), 3 the node did not answer (what it answered before is printed, and the ids \
            of the rest as `unanswered`: send those again with the same ids). \
            An ack means stored, not accepted: with --outcome, each acked event is followed until the modules \
            that take it have applied it, and the events it caused are printed; exit status 4 when a module \
            refused one (its code and reason are printed) or gave up on it (a dead letter), 5 when an outcome \
            is unknown (not in time, or the HTTP side could not tell): the events are stored either way.
            """
    )

    @Argument(help: ArgumentHelp("JSON file to publish; - or nothing reads standard input.", valueName: "file"))
    var file: String?

    @Option(help: ArgumentHelp("Ingress endpoint of the node (default: from --config, else tcp://127.0.0.1:5555).", valueName: "endpoint"))
    var endpoint: String?

    @OptionGroup var node: NodeConfigOption

    @Option(help: "Milliseconds to wait for a reply before sending again.")
    var timeoutMs: Int32 = 2500

    @Option(help: "How many times to send again after a timeout.")
    var retries = 3

    @Option(help: "Events in flight at once.")
    var window = 64

    @Flag(help: "Print nothing for acked events.")
    var quiet = false

    @Flag(help: "One JSON object per line on standard output: each event's ack or nack, then with --outcome each event's outcome as GET /api/events/ID/outcome gives it.")
    var json = false

    @Flag(help: "After the acks, wait for what the modules make of each event (GET /api/events/ID/outcome on the node's HTTP side; a token from WZT_TOKEN).")
    var outcome = false

    @Option(help: ArgumentHelp("The node's HTTP side, for --outcome (default: from --config, else 127.0.0.1:8780).", valueName: "host:port"))
    var http: String?

    @Option(help: "Seconds to wait for each event's outcome.")
    var outcomeTimeout = 30.0

    @OptionGroup var curve: CurveOptions

    func run() async throws {
        // Exit 1 means "nacked": what stops the command before anything is sent has its own code.
        let prepared: (envelopes: [(id: String, json: [UInt8])], configuration: NodeConfiguration?, client: IngressClient)
        do {
            prepared = try prepare()
        } catch {
            printError("wzt publish: \(error)")
            throw ExitCode.badInput
        }
        let (envelopes, configuration, client) = prepared
        let showProgress = envelopes.count >= 1000
        let outcomes: [IngressClient.Outcome]
        do {
            outcomes = try client.publish(envelopes, window: max(1, window)) { done in
                if showProgress, done % 1000 == 0 || done == envelopes.count {
                    printError("published \(done)/\(envelopes.count)")
                }
            }
        } catch {
            // What was answered before the node fell silent, and the ids of the rest (filled in
            // here when the input had none): sent again with these ids, none is stored twice.
            let answered = (error as? IngressClient.Failure)?.outcomes ?? []
            let unanswered = try report(envelopes, answered + Array(repeating: nil, count: max(0, envelopes.count - answered.count))).unanswered
            printError("wzt publish: \(error)" + (unanswered > 0 ? "; \(unanswered) of \(envelopes.count) events unanswered (listed), stored or not: send them again with these ids" : ""))
            throw ExitCode.unreachable
        }
        if try report(envelopes, outcomes).nacked > 0 { throw ExitCode.nacked }
        guard outcome else { return }
        let acked = zip(envelopes, outcomes).compactMap { envelope, outcome in if case .ack = outcome { envelope.id } else { nil } }
        let http = http ?? configuration?.httpAddress ?? "127.0.0.1:8780"
        let verdict = try await OutcomeFollower(http: http, token: ProcessInfo.processInfo.environment["WZT_TOKEN"], timeout: outcomeTimeout, json: json)
            .follow(acked)
        switch verdict {
        case .accepted: return
        case .refused: throw ExitCode.refused
        case .late: throw ExitCode.outcomeLate
        }
    }
}

extension Publish {
    /// Prints each envelope's answer (nil: none came) and counts the nacks and the unanswered.
    private func report(_ envelopes: [(id: String, json: [UInt8])], _ outcomes: [IngressClient.Outcome?]) throws -> (nacked: Int, unanswered: Int) {
        var (nacked, unanswered) = (0, 0)
        for (envelope, outcome) in zip(envelopes, outcomes) {
            switch outcome {
            case .ack(let offset, let duplicate)?:
                if json {
                    try printJSON(Reply(id: envelope.id, status: "ack", offset: offset, duplicate: duplicate))
                } else if !quiet {
                    print("ack \(envelope.id) offset \(offset)\(duplicate ? " (already stored)" : "")")
                }
            case .nack(let code, let reason)?:
                nacked += 1
                if json { try printJSON(Reply(id: envelope.id, status: "nack", code: code, reason: reason)) }
                printError("nack \(envelope.id) \(code): \(reason)")
            case nil:
                unanswered += 1
                if json { try printJSON(Reply(id: envelope.id, status: "unanswered")) } else { print("unanswered \(envelope.id)") }
            }
        }
        return (nacked, unanswered)
    }

    /// The envelopes to send, the node's configuration, and a client for its ingress.
    private func prepare() throws -> (envelopes: [(id: String, json: [UInt8])], configuration: NodeConfiguration?, client: IngressClient) {
        let input: Data
        if let file, file != "-" {
            guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
            input = data
        } else {
            input = FileHandle.standardInput.readDataToEndOfFile()
        }
        let envelopes = try PublishInput.envelopes(from: input)
        guard !envelopes.isEmpty else { throw CommandFailure("no events in the input") }
        let configuration = try node.load()
        let endpoint = endpoint ?? configuration.map { NodeConfiguration.connectable($0.transport.ingressEndpoint) } ?? "tcp://127.0.0.1:5555"
        let credentials = try curve.credentials(nodeKey: configuration?.transport.security?.keys.publicKey)
        do {
            return (envelopes, configuration, try IngressClient(context: Context(), endpoint: endpoint, curve: credentials, timeoutMilliseconds: timeoutMs, retries: retries))
        } catch {
            throw CommandFailure("cannot connect to \(endpoint): \(error); an endpoint looks like tcp://HOST:PORT")
        }
    }
}

/// An ack or nack as `--json` prints it: the fields of the node's own reply (docs/protocol.md).
private struct Reply: Encodable {
    let id: String
    let status: String
    var offset: Int64?
    var duplicate: Bool?
    var code: String?
    var reason: String?
}

enum PublishInput {
    /// Splits the input into envelopes and fills in what a publisher may leave out. Each envelope
    /// goes out as the publisher wrote it, with only the missing attributes added.
    static func envelopes(from input: Data) throws -> [(id: String, json: [UInt8])] {
        let bytes = Array(input)
        let documents: [[UInt8]]
        if bytes.first(where: { !Self.isSpace($0) }) == UInt8(ascii: "[") {
            do { documents = try EnvelopeBytes.elements(ofArray: bytes) } catch { throw CommandFailure("the input is a JSON array, but \(error.reason)") }
        } else if (try? JSONSerialization.jsonObject(with: input)) != nil {
            documents = [bytes]
        } else {
            // JSON Lines: one document per non-empty line.
            documents = try bytes.split(separator: UInt8(ascii: "\n")).enumerated().compactMap { number, line in
                guard line.contains(where: { !Self.isSpace($0) }) else { return nil }
                guard (try? JSONSerialization.jsonObject(with: Data(line), options: .fragmentsAllowed)) != nil else {
                    throw CommandFailure("line \(number + 1) is not a JSON document")
                }
                return Array(line)
            }
        }
        return try documents.enumerated().map { index, document in
            guard document.first(where: { !Self.isSpace($0) }) == UInt8(ascii: "{") else {
                throw CommandFailure("event \(index + 1) is not a JSON object")
            }
            let filled = try EnvelopeBytes.setting([("specversion", EnvelopeBytes.string("1.0")), ("id", EnvelopeBytes.string(EventID.make())),
                                                    ("time", EnvelopeBytes.string(EventTime.format(Date())))], in: document, onlyWhereMissing: true)
            return (EnvelopeBytes.attribute("id", in: filled) ?? "?", filled)
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
}
