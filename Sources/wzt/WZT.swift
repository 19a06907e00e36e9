import ArgumentParser
import Bus
import Foundation

@main
struct WZT: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wzt",
        abstract: "The wzt event bus for werk- en zorgtrajecten: durable events over ZeroMQ, hosted modules.",
        discussion: """
            `wzt serve` runs a node: the event log, the ZeroMQ ingress (acks once an event is durable), \
            the live feed, and the modules configured for it. The other commands talk to a running node \
            over ZeroMQ or read its data directory.
            """,
        version: "wzt \(BuildInfo.version) (plugin API \(BuildInfo.pluginAPI))",
        subcommands: [Serve.self, Publish.self, Tail.self, Status.self, DeadLetters.self, ModulesCommand.self, AuditCommand.self, PrivacyCommand.self, NotificationsCommand.self, AMACommand.self, CheckConfig.self, Contracts.self, Plugins.self, Keys.self]
    )
}
