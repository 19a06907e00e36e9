import Bus
import Core
import Foundation
import Logging

/// Opens the event log of a node's data directory, for the commands that work beside it.
enum LocalLog {
    static func open(_ configuration: NodeConfiguration) async throws -> EventLog {
        if let core = configuration.core {
            throw CommandFailure("""
                \(configuration.origin) is a module process's configuration ([core]): the event log, and the cursors and dead letters \
                of its modules, are the core's (\(core.endpoints.joined(separator: ", "))). Run this with the core's configuration
                """)
        }
        guard case .sqlite = configuration.logStorage else { return try await configuration.openLog(logger: Logger(label: "wzt.cli")) }
        guard FileManager.default.fileExists(atPath: configuration.logPath) else {
            throw CommandFailure("no event log at \(configuration.logPath); run this where `wzt serve` runs, or pass --data-dir or --config")
        }
        return try EventLog(path: configuration.logPath)
    }
}
