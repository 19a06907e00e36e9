import Bus

/// An event delivered to a module: its place in the log, its envelope, and typed access to its data.
public struct IncomingEvent: Sendable {
    public let offset: Int64
    public let id: String
    public let type: String
    public let subject: String?
    public let json: [UInt8]
    /// The envelope, validated once for everything the delivery reads from it (the handler's
    /// data, the transaction's origin, the deadlines' date, the invariants' ids); the error when
    /// it does not validate, which the handler then meets.
    let envelope: Result<Envelope, EnvelopeError>
    /// The top-level text fields of the data, read without its contract: invariants scope their
    /// reads by the ids an event names, whatever its type. Read with the envelope, before the
    /// module's transaction, whose one thread every delivery waits for.
    let textFields: [String: String]

    init(_ event: StoredEvent, decoder: EnvelopeDecoder) {
        offset = event.offset
        id = event.id
        type = event.type
        subject = event.subject
        json = event.json
        // A decoding of other bytes (the event before its fields were sealed) is not this one's.
        envelope = event.decoded.flatMap { $0.json == event.json ? .success($0) : nil } ?? Result { () throws(EnvelopeError) in try decoder.decode(event.json) }
        textFields = (try? envelope.get().dataTextFields) ?? [:]
    }

    /// The data as contract `T`; older stored versions are upcast.
    public func data<T: EventContract>(as contract: T.Type) throws(EnvelopeError) -> T {
        try envelope.get().data(as: T.self)
    }

    public func isA<T: EventContract>(_ contract: T.Type) -> Bool { type == T.eventType.rawValue }
}
