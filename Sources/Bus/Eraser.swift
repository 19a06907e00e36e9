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

    /// Its cursor's name in the log, and the events it takes.
    public static let subscription = "privacy"
    public static let takes = [EventPattern(exactly: ErasureRequested.eventType)]

    public var subscriptionName: String { Self.subscription }
    public var patterns: [EventPattern] { Self.takes }

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
