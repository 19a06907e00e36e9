import ArgumentParser
import Bus
import Core
import Foundation
import ModuleKit

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the log head, each subscription's cursor and lag, and open dead letters.",
        discussion: "Reads the data directory of a node on this host; works while the node runs."
    )

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let configuration = try options.load()
        let log = try await LocalLog.open(configuration)
        defer { log.close() }
        let patternsByModule = Dictionary(uniqueKeysWithValues: ModuleCatalog.modules.map { ($0.key, $0.value(configuration).subscriptions) })
        let deadLetters = try await log.deadLetters(status: .open)
        let head = log.headOffset
        // A module whose first batch is still on its way has no cursor yet: listed from the start of the log.
        let cursors = try log.cursors()
        let notStarted = Set(configuration.hostedModules + configuration.remoteModules).subtracting(cursors.map(\.subscription)).sorted()
        let rows = try (cursors.map { ($0.subscription, $0.offset, $0.updatedAt) } + notStarted.map { ($0, Int64(0), "never") })
            .sorted { $0.0 < $1.0 }
            .map { subscription, offset, updatedAt in
                SubscriptionStatus(
                    subscription: subscription, patterns: (patternsByModule[subscription] ?? []).map(\.rawValue), cursor: offset,
                    lag: try log.count(after: offset, matching: patternsByModule[subscription] ?? []),
                    deadLetters: deadLetters.filter { $0.subscription == subscription }.count, updatedAt: updatedAt)
            }
        let report = StatusReport(log: configuration.logPath, head: head, events: try log.count(), openDeadLetters: deadLetters.count, subscriptions: rows)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print("log \(report.log): head \(head), \(report.events) events, \(report.openDeadLetters) open dead letters")
        guard !rows.isEmpty else {
            print("no subscriptions yet")
            return
        }
        print("subscription".padding(toLength: 24, withPad: " ", startingAt: 0) + "cursor".leftAligned(10) + "lag".leftAligned(10) + "dead".leftAligned(6) + "updated")
        for row in rows {
            print(row.subscription.padding(toLength: 24, withPad: " ", startingAt: 0) + "\(row.cursor)".leftAligned(10)
                  + "\(row.lag)".leftAligned(10) + "\(row.deadLetters)".leftAligned(6) + row.updatedAt)
        }
    }
}

private struct StatusReport: Encodable {
    let log: String
    let head: Int64
    let events: Int
    let openDeadLetters: Int
    let subscriptions: [SubscriptionStatus]
}

private struct SubscriptionStatus: Encodable {
    let subscription: String
    /// The event types it receives; empty when this build does not know the subscription.
    let patterns: [String]
    let cursor: Int64
    let lag: Int
    let deadLetters: Int
    let updatedAt: String
}

extension String {
    func leftAligned(_ width: Int) -> String { padding(toLength: max(width, count + 1), withPad: " ", startingAt: 0) }
}
