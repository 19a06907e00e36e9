import ArgumentParser
import Audit
import Foundation

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show who read personal data: when, which subject, for which purpose, allowed or refused.",
        discussion: "Reads the audit log (audit.sqlite in the data directory of a node on this host). Oldest first."
    )

    @OptionGroup var options: ConfigOptions
    @Option(help: "Only reads about this case, agreement or network.") var subject: String?
    @Option(help: "Only reads by this user (a name from http.users).") var actor: String?
    @Flag(help: "One JSON object per line.") var json = false

    func run() async throws {
        let path = try options.load().auditPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw CommandFailure("no audit log at \(path): nothing has been read yet (the node writes it when someone reads personal data over HTTP)")
        }
        let entries = try await AuditLog(path: path).entries(subject: subject, actor: actor)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            for entry in entries { print(String(decoding: try encoder.encode(entry), as: UTF8.self)) }
            return
        }
        guard !entries.isEmpty else {
            print("no audit entries" + (subject.map { " about \($0)" } ?? "") + (actor.map { " by \($0)" } ?? ""))
            return
        }
        for entry in entries {
            let who = [entry.actor, entry.role, entry.agency].compactMap(\.self).joined(separator: " / ")
            print("\(entry.at.formatted(.iso8601))  \(entry.outcome.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0))  \(who)  \(entry.action)  purpose \(entry.purpose)")
        }
    }
}
