/// The core's part of erasure: on `ErasureRequested` it deletes the subject's key, then appends
/// `SubjectErased` for the modules, under an id derived from the request's, so a redelivery
/// changes nothing.
public struct Eraser: Subscriber {
    public let log: EventLog
    public let decoder: EnvelopeDecoder

    public init(log: EventLog, decoder: EnvelopeDecoder) {
        self.log = log
        self.decoder = decoder
    }

    public var subscriptionName: String { "privacy" }
    public var patterns: [EventPattern] { [EventPattern(exactly: ErasureRequested.eventType)] }

    public func deliver(_ event: StoredEvent) async throws {
        let request = try decoder.decode(event.json)
        let erasure = try decoder.data(ErasureRequested.self, of: event.json)
        try await log.erase(subject: erasure.subject, reason: erasure.reason)
        let done = try EnvelopeEncoder.envelope(
            SubjectErased(subject: erasure.subject, reason: erasure.reason), source: "/wzt/privacy", subject: erasure.subject,
            id: EventID.derived(from: "subject-erased/" + event.id), correlationID: request.correlationID ?? event.id, causationID: event.id,
            actor: request.actor ?? .module("privacy"), purpose: .erasure)
        _ = try await log.append([try decoder.decode(done)])
    }
}
