import Foundation

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

/// The attributes of a stored event that say when, from where, who and why, read without its
/// contract: for listings and the audit trail.
public struct EventAttributes: Decodable, Sendable, Hashable {
    public let time: String?
    public let source: String?
    public let actor: String?
    public let actorrole: String?
    public let actoragency: String?
    public let purpose: String?
}

extension StoredEvent {
    /// Nil when the envelope is not a JSON object.
    public var attributes: EventAttributes? { try? JSONDecoder().decode(EventAttributes.self, from: Data(json)) }
}
