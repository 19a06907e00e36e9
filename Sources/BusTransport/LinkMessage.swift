/// The messages of the module link (docs/protocol.md, "Module link"), one frame per field, the
/// verb first. Reading a message that does not have its verb's frames gives nil: the link ignores
/// it, as a ROUTER must ignore what any peer may send. Needs the standard library only, so that
/// Scripts/fuzz can compile it on its own.
enum LinkProtocol {
    /// 2: the core says where each window of events begins (`window`); 3: a core node of a
    /// cluster sends the fencing token of its lease on the module with each window.
    static let version = "3"

    static func text(_ frame: [UInt8]) -> String { String(decoding: frame, as: UTF8.self) }
    static func frame(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// An offset as the link writes it: decimal digits only, 1 or more.
    static func offset(_ frame: [UInt8]) -> Int64? {
        guard (1...19).contains(frame.count), frame.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let offset = Int64(text(frame)), offset >= 1 else { return nil }
        return offset
    }
}

/// What a remote module sends the core.
enum ModuleMessage: Equatable, Sendable {
    /// Every second: the module's name, the link version it speaks, and (from version 3) the
    /// process instance saying it, new at every start: one module is linked from one process.
    case hello(module: String, version: String?, instance: String? = nil)
    /// The module's answer to an event, after its own commit (`ack`) or not.
    case settled(Settlement, offset: Int64, reason: String)
    /// One event of the module's outbox, for the core's log.
    case append(id: String, envelope: [UInt8])
    /// Said as the module's process stops: the core forgets it at once, so that a process started
    /// right after it is not refused as a second one.
    case bye

    enum Settlement: String, Sendable {
        /// Applied and committed.
        case ack
        /// The handler failed: the core retries and, in the end, dead-letters the event.
        case fail
        /// The module cannot store now: the core waits and tries again, without counting a failure.
        case busy
    }

    init?(frames: some Collection<[UInt8]>) {
        let fields = Array(frames)
        guard let verb = fields.first.map(LinkProtocol.text) else { return nil }
        switch verb {
        case "hello" where fields.count <= 4:
            self = .hello(module: fields.count >= 2 ? LinkProtocol.text(fields[1]) : "",
                          version: fields.count >= 3 ? LinkProtocol.text(fields[2]) : nil,
                          instance: fields.count >= 4 ? LinkProtocol.text(fields[3]) : nil)
        case "append" where fields.count == 3:
            self = .append(id: LinkProtocol.text(fields[1]), envelope: fields[2])
        case "bye" where fields.count == 1:
            self = .bye
        default:
            // `ack`, OFFSET; `fail` and `busy` with a REASON as well.
            guard let settlement = Settlement(rawValue: verb), fields.count == (settlement == .ack ? 2 : 3),
                  let offset = LinkProtocol.offset(fields[1]) else { return nil }
            self = .settled(settlement, offset: offset, reason: settlement == .ack ? "" : LinkProtocol.text(fields[2]))
        }
    }

    var frames: [[UInt8]] {
        switch self {
        case .hello(let module, let version, let instance):
            // An instance is only said after a version.
            [LinkProtocol.frame("hello"), LinkProtocol.frame(module)] + (version.map { [LinkProtocol.frame($0)] + (instance.map { [LinkProtocol.frame($0)] } ?? []) } ?? [])
        case .settled(let settlement, let offset, let reason):
            [LinkProtocol.frame(settlement.rawValue), LinkProtocol.frame(String(offset))] + (settlement == .ack ? [] : [LinkProtocol.frame(reason)])
        case .append(let id, let envelope):
            [LinkProtocol.frame("append"), LinkProtocol.frame(id), envelope]
        case .bye:
            [LinkProtocol.frame("bye")]
        }
    }
}

/// What the core sends a remote module.
enum CoreMessage: Equatable, Sendable {
    /// The module is registered; events follow.
    case welcome
    /// The core does not take this module, and why.
    case refused(reason: String)
    /// The events that follow are a new window: those of an earlier window that failed, still on
    /// their way, are to be left unapplied. From a core node of a cluster, with the fencing token
    /// of the node's lease on the module: a window with a lower token than one seen before comes
    /// from a node that lost the module, and is not applied.
    case window(token: Int64?)
    /// The module's next event at its offset in the log.
    case event(offset: Int64, envelope: [UInt8])
    /// An event of the module's outbox is durable in the log.
    case appended(id: String, offset: Int64, duplicate: Bool)
    /// An event of the module's outbox was refused, with its nack code and reason.
    case nack(id: String, code: String, reason: String)

    init?(frames: some Collection<[UInt8]>) {
        let fields = Array(frames)
        guard let verb = fields.first.map(LinkProtocol.text) else { return nil }
        switch (verb, fields.count) {
        case ("welcome", 1):
            self = .welcome
        case ("window", 1):
            self = .window(token: nil)
        case ("window", 2):
            guard let token = LinkProtocol.offset(fields[1]) else { return nil }
            self = .window(token: token)
        case ("refused", 1...2):
            self = .refused(reason: fields.count == 2 ? LinkProtocol.text(fields[1]) : "")
        case ("event", 3):
            guard let offset = LinkProtocol.offset(fields[1]) else { return nil }
            self = .event(offset: offset, envelope: fields[2])
        case ("appended", 4):
            guard let offset = LinkProtocol.offset(fields[2]), ["0", "1"].contains(LinkProtocol.text(fields[3])) else { return nil }
            self = .appended(id: LinkProtocol.text(fields[1]), offset: offset, duplicate: LinkProtocol.text(fields[3]) == "1")
        case ("nack", 4):
            self = .nack(id: LinkProtocol.text(fields[1]), code: LinkProtocol.text(fields[2]), reason: LinkProtocol.text(fields[3]))
        default:
            return nil
        }
    }

    var frames: [[UInt8]] {
        switch self {
        case .welcome: [LinkProtocol.frame("welcome")]
        case .window(let token): [LinkProtocol.frame("window")] + (token.map { [LinkProtocol.frame(String($0))] } ?? [])
        case .refused(let reason): [LinkProtocol.frame("refused"), LinkProtocol.frame(reason)]
        case .event(let offset, let envelope): [LinkProtocol.frame("event"), LinkProtocol.frame(String(offset)), envelope]
        case .appended(let id, let offset, let duplicate):
            [LinkProtocol.frame("appended"), LinkProtocol.frame(id), LinkProtocol.frame(String(offset)), LinkProtocol.frame(duplicate ? "1" : "0")]
        case .nack(let id, let code, let reason): [LinkProtocol.frame("nack"), LinkProtocol.frame(id), LinkProtocol.frame(code), LinkProtocol.frame(reason)]
        }
    }
}
