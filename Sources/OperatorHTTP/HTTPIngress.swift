import Bus
import BusTransport
import Foundation
import Hummingbird
import Metrics

/// A system allowed to publish over HTTP: its bearer token and the event types it may publish.
public struct HTTPPublisher: Sendable, Hashable {
    public var name: String
    public var token: String
    public var events: [EventPattern]

    public init(name: String, token: String, events: [EventPattern]) {
        self.name = name
        self.token = token
        self.events = events
    }
}

/// `POST /events`: the ZeroMQ ingress's validation and ack semantics over HTTP, for systems that
/// cannot speak ZeroMQ. The body is one envelope; 200 with the same ack JSON once it is durable;
/// a refusal is an RFC 9457 problem whose `code` is the nack code of docs/protocol.md.
enum HTTPIngress {
    static func add(to router: Router<BasicRequestContext>, log: EventLog, decoder: EnvelopeDecoder, publishers: [HTTPPublisher], actors: ActorRule) {
        // At 0 from the start, so that a rate over it is defined before the first event.
        let acked = Counter(label: "wzt_http_acked_total")
        for code in EnvelopeError.Code.allCases { _ = Counter(label: "wzt_http_nacked_total", dimensions: [("code", code.rawValue)]) }
        router.post("events") { request, _ -> Response in
            guard let publisher = Bearer.match(request, publishers, token: \.token) else {
                return Bearer.unauthorized("send `Authorization: Bearer <token>` with a token from http.publishers")
            }
            // The media type without its parameters (`; charset=utf-8`), in any letter case.
            let mediaType = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
            guard let mediaType, ["application/json", "application/cloudevents+json"].contains(mediaType) else {
                return problem(.unsupportedMediaType, code: "unsupported-media-type",
                               "send the envelope with `Content-Type: application/json` or `application/cloudevents+json`; got \(mediaType.map { "`\($0)`" } ?? "none")")
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: decoder.maxBytes)
            } catch {
                return nack(EnvelopeError(.tooLarge, "the event is larger than bus.max_event_bytes (\(decoder.maxBytes) bytes)"))
            }
            let envelope: Envelope
            do {
                envelope = try decoder.decode(Array(buffer: body))
            } catch {
                return nack(error as? EnvelopeError ?? EnvelopeError(.malformedJSON, "unreadable message"))
            }
            guard publisher.events.contains(where: { $0.matches(envelope.type) }) else {
                return nack(EnvelopeError(.forbidden, "publisher \(publisher.name) may not publish \(envelope.type)"))
            }
            do throws(EnvelopeError) {
                try actors.check(envelope, publisher: publisher.name)
            } catch {
                return nack(error)
            }
            do {
                let appended = try await log.append([envelope])
                acked.increment()
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: Reply.ack(appended[0]))))
            } catch {
                return nack(error as? EnvelopeError ?? EnvelopeError(.storageFailed, "the event was not stored; retry later"))
            }
        }
    }

    private static func nack(_ error: EnvelopeError) -> Response {
        Counter(label: "wzt_http_nacked_total", dimensions: [("code", error.code.rawValue)]).increment()
        let status: HTTPResponse.Status = switch error.code {
        case .tooLarge: .contentTooLarge
        case .storageFailed, .unavailable: .serviceUnavailable
        case .forbidden: .forbidden
        default: .badRequest
        }
        return problem(status, code: error.code.rawValue, error.reason)
    }

    /// RFC 9457 problem details; `code` is wzt's stable code, `detail` says what to fix.
    static func problem(_ status: HTTPResponse.Status, code: String, _ detail: String, headers: HTTPFields = [:]) -> Response {
        let problem = Problem(type: "urn:wzt:problem:\(code)", title: status.reasonPhrase, status: status.code, code: code, detail: detail)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: (try? encoder.encode(problem)) ?? Data())))
    }

    private struct Problem: Encodable {
        let type: String
        let title: String
        let status: Int
        let code: String
        let detail: String
    }
}
