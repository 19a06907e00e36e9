import ArgumentParser
import Audit
import Bus
import Foundation

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show who read or changed what about a person's case: when, who, for which purpose.",
        discussion: """
            Reads of personal data come from the audit log (audit.sqlite), with their outcome: allowed or refused. \
            Changes are the events about the subject in the event log, each with its actor and purpose; they are \
            listed when --subject is given. Both are append-only and neither is writable by modules. Oldest first; \
            run it where the node keeps its data.
            """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case reads, changes
    }

    @OptionGroup var options: ConfigOptions
    @Option(help: "Only what concerns this case, agreement, mandate or network.") var subject: String?
    @Option(help: "Only what this user (a name from http.users) or actor did.") var actor: String?
    @Option(help: "Only reads or only changes.") var only: Kind?
    @Flag(help: "One JSON object per line, with \"kind\": \"read\" or \"change\".") var json = false

    func run() async throws {
        let configuration = try options.load()
        var lines: [Line] = []
        if only != .changes, FileManager.default.fileExists(atPath: configuration.auditPath) {
            lines += try await AuditLog(path: configuration.auditPath).entries(subject: subject, actor: actor).map(Line.read)
        }
        if only != .reads, let subject {
            let log = try await LocalLog.open(configuration)
            defer { log.close() }
            lines += try await log.recorded(subject: subject).compactMap(Change.init).filter { actor == nil || $0.actor == actor }.map(Line.change)
        }
        lines.sort { $0.at < $1.at }
        if json {
            for line in lines { try printJSON(line) }
            return
        }
        guard !lines.isEmpty else {
            print("no audit entries" + (subject.map { " about \($0)" } ?? "") + (actor.map { " by \($0)" } ?? ""))
            return
        }
        // What a reader asked for is as they typed it: control characters are shown escaped, so
        // that none can move the terminal's cursor or forge a line of this listing.
        for line in lines { print(String(line.text.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined())) }
    }

    /// A change: an event about the subject, as the log holds it, at the time the log recorded it.
    struct Change: Encodable {
        let at: Date
        /// The event's own `time`, as its publisher gave it.
        let time: String?
        let offset: Int64
        let type: String
        let actor: String?
        let role: String?
        let agency: String?
        let purpose: String?

        init?(_ recorded: (event: StoredEvent, at: String)) {
            let event = recorded.event
            guard let head = event.attributes,
                  let at = try? Date(recorded.at, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) else { return nil }
            self.at = at
            time = head.time
            offset = event.offset
            type = event.type
            actor = head.actor
            role = head.actorrole
            agency = head.actoragency
            purpose = head.purpose
        }
    }

    enum Line: Encodable {
        case read(AuditEntry)
        case change(Change)

        var at: Date {
            switch self {
            case .read(let entry): entry.at
            case .change(let change): change.at
            }
        }

        var text: String {
            let time = at.formatted(.iso8601)
            switch self {
            case .read(let entry):
                let who = [entry.actor, entry.role, entry.agency].compactMap(\.self).joined(separator: " / ")
                return "\(time)  \(entry.outcome.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0))  \(who)  \(entry.action)  purpose \(entry.purpose)"
            case .change(let change):
                let who = change.actor.map { [$0, change.role ?? "", change.agency ?? ""].joined(separator: " / ") } ?? "(system publisher)"
                return "\(time)  changed  \(who)  \(change.type) at offset \(change.offset)  purpose \(change.purpose ?? "(none given)")"
            }
        }

        private enum Keys: String, CodingKey { case kind }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            switch self {
            case .read(let entry):
                try container.encode("read", forKey: .kind)
                try entry.encode(to: encoder)
            case .change(let change):
                try container.encode("change", forKey: .kind)
                try change.encode(to: encoder)
            }
        }
    }
}
