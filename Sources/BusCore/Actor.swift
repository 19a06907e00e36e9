/// Who caused an event: a person, or a system acting on its own, with the role they acted in and
/// the agency they acted for. Carried by the envelope's `actor`, `actorrole` and `actoragency`.
public struct Actor: Hashable, Sendable, Codable, CustomStringConvertible {
    public let id: String
    public let role: String
    public let agency: String

    public init(id: String, role: String, agency: String) {
        self.id = id
        self.role = role
        self.agency = agency
    }

    /// A module publishing on its own account: a deadline passed, a report fell due.
    public static func module(_ name: String) -> Actor { Actor(id: name, role: "system", agency: "wzt") }

    public var description: String { "\(id) (\(role), \(agency))" }
}

/// Every event says who caused it and for which purpose (GDPR art. 5(2): the controller must be
/// able to show it), unless its publisher acts for nobody: a batch import, another agency's system.
public struct ActorRule: Sendable, Hashable {
    /// The name an unauthenticated publisher goes by: one on loopback without CURVE or a token.
    public static let anonymous = "anonymous"

    /// Publishers whose events need no actor: CURVE key names, HTTP publisher names, `anonymous`.
    public var systemPublishers: Set<String>

    /// By default only unauthenticated publishers, who can reach a node only from its own host
    /// (without CURVE it listens on loopback only), may leave the actor out.
    public init(systemPublishers: Set<String> = [ActorRule.anonymous]) {
        self.systemPublishers = systemPublishers
    }

    public func check(_ envelope: Envelope, publisher: String?) throws(EnvelopeError) {
        guard envelope.actor == nil || envelope.purpose == nil else { return }
        let name = publisher ?? Self.anonymous
        guard !systemPublishers.contains(name) else { return }
        let missing = [envelope.actor == nil ? "actor, actorrole, actoragency" : nil, envelope.purpose == nil ? "purpose" : nil]
            .compactMap { $0 }.joined(separator: " and ")
        throw EnvelopeError(.missingActor, """
            event \(envelope.id) from publisher \(name) has no \(missing): every event says who caused it and for which \
            legal task (docs/protocol.md, "Actor and purpose"); a publisher that acts for nobody is listed in privacy.system_publishers
            """)
    }
}
