/// An event as the log holds it: its offset and the envelope JSON exactly as appended.
public struct StoredEvent: Sendable, Hashable {
    public let offset: Int64
    public let id: String
    public let type: String
    public let subject: String?
    public let json: [UInt8]

    public init(offset: Int64, id: String, type: String, subject: String?, json: [UInt8]) {
        self.offset = offset
        self.id = id
        self.type = type
        self.subject = subject
        self.json = json
    }
}

/// The outcome of appending one event.
public struct Appended: Sendable, Hashable {
    public let id: String
    public let offset: Int64
    /// The id was already in the log: nothing was written and `offset` is the first one.
    public let duplicate: Bool

    public init(id: String, offset: Int64, duplicate: Bool) {
        self.id = id
        self.offset = offset
        self.duplicate = duplicate
    }
}
