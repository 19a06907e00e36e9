import AMA
import ArgumentParser
import Bus
import Core
import Foundation
import Logging
import ModuleKit
import Notifications

/// Opens one module's database in a node's data directory, for the commands that work beside it.
enum LocalModuleStore {
    static func open(_ module: some Module, _ configuration: NodeConfiguration, mustExist: Bool = true) async throws -> ModuleStore {
        if case .sqlite = configuration.storage(of: module.name) {
            let path = configuration.modulePath(module.name)
            if mustExist && !FileManager.default.fileExists(atPath: path) {
                throw CommandFailure("no \(module.name) database at \(path); run this where `wzt serve` runs, or pass --data-dir or --config")
            }
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        }
        return try await configuration.openStore(module, logger: Logger(label: "wzt.cli"))
    }
}

struct AMACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ama",
        abstract: "Work with the AMA module's own data.",
        subcommands: [Attach.self]
    )

    struct Attach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store the scan of an electronic submission and print its reference.",
            discussion: """
                The file must be a PDF or a PNG, JPEG or TIFF image (judged by its content, not its name) of at most 10 MB. \
                Put the printed JSON in the submission's filing.attachment.
                """
        )

        @OptionGroup var options: ConfigOptions
        @Argument(help: "The scan to store.") var file: String

        func run() async throws {
            // Size and kind first: a 2 GB file, or /dev/zero, is refused without being read.
            let attributes = (try? FileManager.default.attributesOfItem(atPath: file)) ?? [:]
            guard attributes[.type] as? FileAttributeType == .typeRegular, let size = attributes[.size] as? Int else {
                throw CommandFailure("\(file) is not a file that can be read (missing, a directory or a device)")
            }
            guard size <= AMAAttachments.maximumBytes else { throw CommandFailure("\(file): \(AttachmentError.tooLarge(bytes: size, maximum: AMAAttachments.maximumBytes))") }
            let content: Data
            do { content = try Data(contentsOf: URL(filePath: file)) } catch { throw CommandFailure("cannot read \(file): \(error.localizedDescription)") }
            do { _ = try AMAAttachments.reference(for: content) } catch { throw CommandFailure("\(file): \(error)") }
            let store = try await LocalModuleStore.open(AMAModule(), try options.load(), mustExist: false)
            let reference = try await AMAAttachments(database: store.database).store(content)
            try printJSON(reference)
        }
    }
}

struct NotificationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifications",
        abstract: "See and retry notifications that could not be delivered.",
        discussion: "Works on the data directory of a node on this host. A retry is picked up by the running node within seconds.",
        subcommands: [Failed.self, List.self, Retry.self],
        defaultSubcommand: Failed.self
    )

    struct Failed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List notifications whose every attempt failed.")
        @OptionGroup var options: ConfigOptions
        @Flag(help: "One JSON object per notification and line.") var json = false

        func run() async throws {
            let queries = NotificationsQueries(database: try await LocalModuleStore.open(NotificationsModule(configuration: .init()), try options.load()).database)
            let failed = try await queries.failed()
            if json { return try failed.forEach(printJSON) }
            guard !failed.isEmpty else { return print("no failed notifications") }
            for notification in failed {
                print("\(notification.id)  \(notification.channel)  \(notification.eventType)  \(notification.reference)  attempts \(notification.attempts)")
                print("    \(notification.lastError ?? "")")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every notification with its delivery status.")
        @OptionGroup var options: ConfigOptions
        @Flag(help: "One JSON object per notification and line.") var json = false

        func run() async throws {
            let queries = NotificationsQueries(database: try await LocalModuleStore.open(NotificationsModule(configuration: .init()), try options.load()).database)
            let all = try await queries.all()
            if json { return try all.forEach(printJSON) }
            guard !all.isEmpty else { return print("no notifications") }
            for notification in all {
                print("\(notification.id)  \(notification.status)  \(notification.channel)  \(notification.eventType)  \(notification.reference)  attempts \(notification.attempts)")
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a failed notification again, with a fresh set of attempts.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Notification id (from `failed`).") var id: String

        func run() async throws {
            let queries = NotificationsQueries(database: try await LocalModuleStore.open(NotificationsModule(configuration: .init()), try options.load()).database)
            guard try await queries.retry(id) else { throw CommandFailure("no failed notification \(id); `wzt notifications failed` lists them") }
            print("notification \(id) queued again")
        }
    }
}

struct ModulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modules",
        abstract: "Work on a module's database as a whole.",
        subcommands: [Rebuild.self]
    )

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild a module's state from the event log into a fresh database, then swap it in.",
            discussion: """
                Stop the node (or the process that hosts the module) first: nothing is delivered while the state is rebuilt, and \
                a node that holds the data directory makes the rebuild refuse to start. \
                Every event the module takes is handed to a new database, in log order, as live delivery does; what the module \
                publishes is already in the log and is not appended again. The old database is kept beside the new one as \
                <module>.sqlite.before-rebuild; a module in PostgreSQL is rebuilt into the schema <module>_rebuild, which then \
                takes the live schema's name, the old one kept as <module>_before_rebuild. In a cluster only the module is \
                taken from the nodes while it is rebuilt (its lease), the nodes run on. The module's cursor is set to the log's \
                head. The notifications module (its rows record deliveries, not events) cannot be rebuilt.
                """
        )

        @OptionGroup var options: ConfigOptions
        @Argument(help: ArgumentHelp("The module.", valueName: "name")) var name: String

        func run() async throws {
            let configuration = try options.load()
            guard let make = ModuleCatalog.modules[name] else {
                throw CommandFailure("no module \(name); modules: \(ModuleCatalog.moduleNames.sorted().joined(separator: ", "))")
            }
            guard name != "notifications" else {
                throw CommandFailure("notifications cannot be rebuilt: its rows record what was delivered to the outside world, which the log does not hold")
            }
            if case .postgres(let url) = configuration.storage(of: name) {
                return try await rebuildInPostgreSQL(make(configuration), url: url, configuration: configuration)
            }
            let held: DataDirectoryLock
            do {
                held = try DataDirectoryLock(configuration.dataDirectory, holder: "wzt modules rebuild \(name)")
            } catch {
                throw CommandFailure("\(error); a rebuild needs the node stopped")
            }
            defer { withExtendedLifetime(held) {} }
            let module = make(configuration)
            let path = configuration.modulePath(name)
            let fresh = path + ".rebuild"
            for leftover in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: fresh + leftover) }
            let log = try await LocalLog.open(configuration)
            defer { log.close() }
            let (decoder, rules) = try Self.decoderAndRules(configuration)
            let report = try await Self.replay(module, log: log, decoder: decoder, rules: rules, old: path, into: fresh)
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                try? FileManager.default.removeItem(atPath: path + ".before-rebuild" + suffix)
                try FileManager.default.moveItem(atPath: path + suffix, toPath: path + ".before-rebuild" + suffix)
            }
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: fresh + suffix) {
                try FileManager.default.moveItem(atPath: fresh + suffix, toPath: path + suffix)
            }
            try await log.saveCursor(name, offset: report.head)
            Self.summarize(report, of: name)
            print("the previous database is at \(path).before-rebuild")
        }

        private func rebuildInPostgreSQL(_ module: any Module, url: String, configuration: NodeConfiguration) async throws {
            var logger = Logger(label: "wzt.cli")
            logger.logLevel = .warning
            let log = try await LocalLog.open(configuration)
            defer { log.close() }
            let (decoder, rules) = try Self.decoderAndRules(configuration)
            let rebuild = PostgresRebuild(module: module, url: url, configuration: configuration, logger: logger)
            let report: ModuleRebuild.Report
            do {
                report = try await rebuild.run(log: log, decoder: decoder, rules: rules, progress: Self.progressBar())
            } catch let refusal as PostgresRebuild.Refused {
                throw CommandFailure(refusal.description)
            }
            if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\n".utf8)) }
            Self.summarize(report, of: name)
            print("the previous tables are in schema \(rebuild.previousSchema)")
        }

        private static func decoderAndRules(_ configuration: NodeConfiguration) throws -> (EnvelopeDecoder, RuleBook) {
            let all = ModuleCatalog.modules.values.map { $0(configuration) }
            let decoder = EnvelopeDecoder(registry: try ContractRegistry(ModuleCatalog.contracts + all.flatMap(\.contracts)), maxBytes: configuration.maxEventBytes)
            return (decoder, try PluginLoader.ruleBook(configuration, logger: Logger(label: "wzt.cli")).0)
        }

        private static func summarize(_ report: ModuleRebuild.Report, of name: String) {
            print("\(name) rebuilt from offsets 1 to \(report.head): \(report.delivered) events applied, \(report.timersFired) deadlines fired where the log has them")
            for failure in report.failed { print("  offset \(failure.offset) failed (a dead letter live as well): \(failure.error)") }
        }

        /// A bar on standard error: redrawn in place on a terminal, a line per page otherwise.
        private static func progressBar() -> @Sendable (Int64, Int64) -> Void {
            let interactive = isatty(STDERR_FILENO) == 1
            return { offset, head in
                guard head > 0 else { return }
                let filled = Int(offset * 40 / head)
                let bar = "[\(String(repeating: "#", count: filled))\(String(repeating: " ", count: 40 - filled))] \(offset)/\(head)"
                FileHandle.standardError.write(Data(((interactive ? "\r" : "") + bar + (interactive ? "" : "\n")).utf8))
            }
        }

        /// The stores are closed when this returns, so their files can move.
        static func replay(_ module: any Module, log: EventLog, decoder: EnvelopeDecoder, rules: RuleBook, old: String, into fresh: String) async throws -> ModuleRebuild.Report {
            let store = try ModuleStore(module: module, path: fresh)
            let previous = FileManager.default.fileExists(atPath: old) ? try ModuleStore(module: module, path: old) : nil
            let report = try await ModuleRebuild(module: module, log: log, decoder: decoder, rules: rules).replay(into: store, keepingFrom: previous,
                                                                                                                progress: progressBar())
            if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\n".utf8)) }
            return report
        }
    }
}
