import Bus
import Foundation
import Hummingbird

/// `GET /api/events/<id>/outcome`: what became of an acked event. An ack says the event is
/// stored; whether the modules that take it accepted it comes later, as the events it caused (a
/// refusal among them). This answers for systems that poll: which modules have applied it (or
/// given up on it), what it caused, and each refusal's code and reason. `complete` turns true
/// once every module that takes the event's type is past it; what it caused is in the log by then,
/// because a module relays what it published before its cursor moves.
enum OutcomeAPI {
    /// How many events after the one asked about are read for what it caused: what a module
    /// publishes while handling an event follows it closely, unless the module was far behind.
    static let scanLimit = 100_000

    static func add(to router: Router<BasicRequestContext>, log: EventLog, modules: [WatchedModule], publishers: [HTTPPublisher], access: Access) {
        router.get("api/events/:id/outcome") { request, context -> Response in
            // Operators, and the systems that publish over HTTP: they poll for what they sent.
            let publisher = Bearer.match(request, publishers, token: \.token)
            if publisher == nil, let refusal = access.refuseUnlessOperator(request) { return refusal }
            let id = EventID.canonical(context.parameters.get("id") ?? "")
            guard EventID.isValid(id) else {
                return HTTPIngress.problem(.badRequest, code: "invalid-id", "an event id is a UUID or a ULID, as acked")
            }
            guard let offset = try log.offset(ofEventID: id), let event = try await log.event(at: offset) else {
                return HTTPIngress.problem(.notFound, code: "not-found", "no event \(id) in the log: it was never acked here, or retention removed it")
            }
            // A publisher reads the outcomes of the types it may publish, not of other systems' events.
            if let publisher, !publisher.events.contains(where: { $0.matches(event.type) }) {
                return HTTPIngress.problem(.forbidden, code: "forbidden", "publisher \(publisher.name) may not publish \(event.type), so it may not read its outcome")
            }
            let outcome = try await Outcome.of(event, in: log, modules: modules)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(outcome))))
        }
    }
}

/// The answer of `GET /api/events/<id>/outcome`, which `wzt publish --outcome` reads.
public struct Outcome: Codable, Sendable {
    public struct ModuleState: Codable, Sendable {
        public let module: String
        /// `applied` (handled, or passed by for a purpose it is not granted), `dead-lettered`, or `pending`.
        public let state: String
    }

    public struct Caused: Codable, Sendable {
        public let id: String
        public let type: String
        public let offset: Int64
        public let subject: String?
    }

    public struct Refusal: Codable, Sendable {
        public let id: String
        public let type: String
        public let code: String
        public let reason: String
    }

    public let id: String
    public let type: String
    public let offset: Int64
    public let complete: Bool
    public let modules: [ModuleState]
    public let caused: [Caused]
    public let refusals: [Refusal]
    /// The last offset read for what the event caused (the head, or the scan's limit).
    public let scannedThrough: Int64

    static func of(_ event: StoredEvent, in log: EventLog, modules: [WatchedModule]) async throws -> Outcome {
        // Open, or sent back for another try: a dead letter that was retried successfully is applied.
        let deadLettered = Set((try await log.deadLetters(status: .open) + log.deadLetters(status: .retry))
            .filter { $0.eventOffset == event.offset }.map(\.subscription))
        var states: [ModuleState] = []
        for module in modules where module.patterns.contains(where: { $0.matches(EventType(stringLiteral: event.type)) }) {
            let cursor = try await log.cursor(module.name)
            let state = deadLettered.contains(module.name) ? "dead-lettered" : cursor >= event.offset ? "applied" : "pending"
            states.append(ModuleState(module: module.name, state: state))
        }
        var caused: [Caused] = []
        var refusals: [Refusal] = []
        var through = event.offset
        let needle = Array(event.id.utf8)
        while through - event.offset < OutcomeAPI.scanLimit {
            let page = try await log.events(after: through, limit: 2048)
            guard let last = page.last else { break }
            through = last.offset
            // Only events that name the id anywhere are parsed.
            for candidate in page where candidate.json.contains(bytes: needle) {
                guard let envelope = (try? JSONSerialization.jsonObject(with: Data(candidate.json))) as? [String: Any],
                      envelope["causationid"] as? String == event.id else { continue }
                caused.append(Caused(id: candidate.id, type: candidate.type, offset: candidate.offset, subject: candidate.subject))
                if let data = envelope["data"] as? [String: Any], data["refusedEventId"] as? String == event.id {
                    refusals.append(Refusal(id: candidate.id, type: candidate.type, code: data["code"] as? String ?? "", reason: data["reason"] as? String ?? ""))
                }
            }
        }
        return Outcome(id: event.id, type: event.type, offset: event.offset, complete: states.allSatisfy { $0.state != "pending" },
                       modules: states, caused: caused, refusals: refusals, scannedThrough: through)
    }
}
