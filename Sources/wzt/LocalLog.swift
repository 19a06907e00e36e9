import Bus
import Core
import Foundation

/// Opens the event log of a node's data directory, for the commands that work beside it.
enum LocalLog {
    static func open(_ configuration: NodeConfiguration) throws -> EventLog {
        guard FileManager.default.fileExists(atPath: configuration.logPath) else {
            throw CommandFailure("no event log at \(configuration.logPath); run this where `wzt serve` runs, or pass --data-dir or --config")
        }
        return try EventLog(path: configuration.logPath)
    }
}
