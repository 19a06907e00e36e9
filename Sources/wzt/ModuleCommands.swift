import AMA
import ArgumentParser
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
            let content: Data
            do { content = try Data(contentsOf: URL(filePath: file)) } catch { throw CommandFailure("cannot read \(file): \(error.localizedDescription)") }
            do { _ = try AMAAttachments.reference(for: content) } catch { throw CommandFailure("\(file): \(error)") }
            let store = try await LocalModuleStore.open(AMAModule(), try options.load(), mustExist: false)
            let reference = try await AMAAttachments(database: store.database).store(content)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(reference), as: UTF8.self))
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

        func run() async throws {
            let queries = NotificationsQueries(database: try await LocalModuleStore.open(NotificationsModule(configuration: .init()), try options.load()).database)
            let failed = try await queries.failed()
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

        func run() async throws {
            let queries = NotificationsQueries(database: try await LocalModuleStore.open(NotificationsModule(configuration: .init()), try options.load()).database)
            let all = try await queries.all()
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
