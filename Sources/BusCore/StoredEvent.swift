import Foundation

/// An event as the log holds it: its offset and the envelope JSON exactly as appended.
public struct StoredEvent: Sendable, Hashable {
    public let offset: Int64
    public let id: String
    public let type: String
    public let subject: String?
    public let json: [UInt8]
    /// `json` as decoded already, where that was done on the way (a projection that left the
    /// bytes as they were): the subscriber in this process need not decode them again. Fresh
    /// from the log's writer, the event as it was appended, personal fields open (`decoded.json`
    /// is then not `json`): only a projection allowed to open them hands that on.
    package let decoded: Envelope?

    public init(offset: Int64, id: String, type: String, subject: String?, json: [UInt8]) {
        self.init(offset: offset, id: id, type: type, subject: subject, json: json, decoded: nil)
    }

    package init(offset: Int64, id: String, type: String, subject: String?, json: [UInt8], decoded: Envelope?) {
        self.offset = offset
        self.id = id
        self.type = type
        self.subject = subject
        self.json = json
        self.decoded = decoded
    }

    /// The event, not how far it was read: `decoded` is what `json` says.
    public static func == (left: StoredEvent, right: StoredEvent) -> Bool {
        left.offset == right.offset && left.id == right.id && left.type == right.type && left.subject == right.subject && left.json == right.json
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(offset)
        hasher.combine(id)
        hasher.combine(type)
        hasher.combine(subject)
        hasher.combine(json)
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
