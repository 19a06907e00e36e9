import ArgumentParser
import Bus
import Core
import Foundation
import ModuleKit

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the log head, each subscription's cursor, lag, apply rate and how far behind it is, and open dead letters.",
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
        let now = Date()
        // With several core nodes: which one runs each module (its lease in the log).
        let owners = Dictionary(try await log.leases.owners().map { ($0.module, $0) }) { first, _ in first }
        var rows: [SubscriptionStatus] = []
        for (subscription, offset, updatedAt, rate) in (cursors.map { ($0.subscription, $0.offset, $0.updatedAt, $0.appliedPerSecond(at: now)) }
            + notStarted.map { ($0, Int64(0), "never", 0.0) }).sorted(by: { $0.0 < $1.0 }) {
            let patterns = patternsByModule[subscription] ?? []
            let lag = try await log.count(after: offset, matching: patterns)
            rows.append(SubscriptionStatus(
                subscription: subscription, patterns: patterns.map(\.rawValue), cursor: offset,
                lag: lag, appliedPerSecond: Self.tenths(rate),
                secondsBehind: Self.tenths(try await log.secondsBehind(offset, matching: patterns, now: now)),
                deadLetters: deadLetters.filter { $0.subscription == subscription }.count, updatedAt: updatedAt,
                owner: owners[subscription].map(Owner.init)))
        }
        let report = StatusReport(log: log.location, head: head, events: try log.count(), openDeadLetters: deadLetters.count, subscriptions: rows)
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
        let header = ["subscription".padding(toLength: 24, withPad: " ", startingAt: 0), "cursor".leftAligned(10), "lag".leftAligned(10),
                      "applied/s".leftAligned(11), "behind".leftAligned(10), "dead".leftAligned(6), "updated".leftAligned(26)]
        print((header + (owners.isEmpty ? [] : ["run by"])).joined())
        for row in rows {
            let columns = [row.subscription.padding(toLength: 24, withPad: " ", startingAt: 0), "\(row.cursor)".leftAligned(10), "\(row.lag)".leftAligned(10),
                           "\(Int(row.appliedPerSecond))".leftAligned(11), String(format: "%.1f s", row.secondsBehind).leftAligned(10),
                           "\(row.deadLetters)".leftAligned(6), row.updatedAt.leftAligned(26)]
            print((columns + (row.owner.map { [$0.description] } ?? [])).joined())
        }
    }
}

extension Status {
    static func tenths(_ value: Double) -> Double { (value * 10).rounded() / 10 }
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
    /// Events applied per second over about the last ten seconds (0 when its cursor has not moved for longer).
    let appliedPerSecond: Double
    /// The age of its oldest unapplied event, 0 when it has applied everything.
    let secondsBehind: Double
    let deadLetters: Int
    let updatedAt: String
    /// With several core nodes: the node whose lease runs the subscription.
    let owner: Owner?
}

private struct Owner: Encodable, CustomStringConvertible {
    let node: String
    let token: Int64
    /// Seconds its lease has left; nil when the module is pinned to that node.
    let leaseSecondsLeft: Double?

    init(_ owner: ModuleOwner) {
        (node, token, leaseSecondsLeft) = (owner.node, owner.token, owner.secondsLeft.map(Status.tenths))
    }

    var description: String {
        switch leaseSecondsLeft {
        case nil: "\(node) (pinned)"
        case let left? where left < 0: "\(node) (lease ran out \(String(format: "%.1f", -left)) s ago)"
        case let left?: "\(node) (lease \(String(format: "%.1f", left)) s)"
        }
    }
}

extension String {
    func leftAligned(_ width: Int) -> String { padding(toLength: max(width, count + 1), withPad: " ", startingAt: 0) }
}
