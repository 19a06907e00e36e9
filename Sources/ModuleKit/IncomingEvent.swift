import Bus

/// An event delivered to a module: its place in the log, its envelope, and typed access to its data.
public struct IncomingEvent: Sendable {
    public let offset: Int64
    public let id: String
    public let type: String
    public let subject: String?
    public let json: [UInt8]
    let decoder: EnvelopeDecoder

    init(_ event: StoredEvent, decoder: EnvelopeDecoder) {
        offset = event.offset
        id = event.id
        type = event.type
        subject = event.subject
        json = event.json
        self.decoder = decoder
    }

    /// The data as contract `T`; older stored versions are upcast.
    public func data<T: EventContract>(as contract: T.Type) throws(EnvelopeError) -> T {
        try decoder.data(T.self, of: json)
    }

    public func isA<T: EventContract>(_ contract: T.Type) -> Bool { type == T.eventType.rawValue }
}
