import ArgumentParser
import Audit
import Bus
import BusTransport
import Core
import Foundation
import Logging
import ModuleKit
import ZeroMQ

struct PrivacyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy",
        abstract: "A person's rights: erase their personal data, or export everything stored about them.",
        subcommands: [Erase.self, Export.self]
    )

    /// Who runs the command: the account's name, for the event's actor and the audit log.
    static var operatorName: String { ProcessInfo.processInfo.environment["USER"] ?? "operator" }

    struct Erase: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase the personal data about a case, agreement or other subject.",
            discussion: """
                Publishes be.wzt.privacy.erasure-requested to the node. The core deletes the subject's key, so its \
                events' personal fields (an INSZ, a participant's name) read as erased in every replay, and tells \
                the modules (be.wzt.privacy.subject-erased), which drop what they keep of them. Dates, statuses and \
                counts stay. It cannot be undone.
                """
        )

        @Option(help: "The subject to erase: a case id, an agreement id …") var subject: String
        @Option(help: "Why, for the record.") var reason = "request of the person"
        @Option(help: ArgumentHelp("Ingress endpoint of the node.", valueName: "endpoint")) var endpoint = "tcp://127.0.0.1:5555"
        @OptionGroup var curve: CurveOptions

        func run() throws {
            let id = EventID.make()
            let json = try EnvelopeEncoder.envelope(ErasureRequested(subject: subject, reason: reason), source: "/wzt/cli/privacy", subject: subject, id: id,
                                                    actor: Actor(id: PrivacyCommand.operatorName, role: "operator", agency: "wzt"), purpose: .erasure)
            let client = try IngressClient(context: Context(), endpoint: endpoint, curve: try curve.credentials())
            let outcome: IngressClient.Outcome
            do {
                outcome = try client.publish([(id, json)], window: 1).first!
            } catch {
                printError("wzt privacy erase: \(error)")
                throw ExitCode.unreachable
            }
            switch outcome {
            case .ack(let offset, _):
                print("erasure of \(subject) requested (offset \(offset)); `wzt audit --subject \(subject)` shows when it took effect")
            case .nack(let code, let reason):
                throw CommandFailure("the node refused the erasure: \(code): \(reason)")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print everything stored about a subject as JSON (right of access).",
            discussion: """
                The events about the subject, their personal fields opened (or marked erased), and every document \
                the modules of this node hold under that id. Run it where the node keeps its data; a deployment \
                with modules in other processes runs it there too. The export is recorded in the audit log.
                """
        )

        @OptionGroup var options: ConfigOptions
        @Option(help: "The subject: a case id, an agreement id …") var subject: String

        func run() async throws {
            let configuration = try options.load()
            let log = try await LocalLog.open(configuration)
            defer { log.close() }
            var modules: [(module: any Module, store: ModuleStore)] = []
            for name in configuration.hostedModules {
                guard let make = ModuleCatalog.modules[name] else { continue }
                // A module that never ran here has no file, and nothing to export.
                if case .sqlite = configuration.storage(of: name), !FileManager.default.fileExists(atPath: configuration.modulePath(name)) { continue }
                let module = make(configuration)
                modules.append((module, try await configuration.openStore(module, logger: Logger(label: "wzt.cli"))))
            }
            let export = try await PrivacyExport.export(subject: subject, log: log, modules: modules)
            try await AuditLog(path: configuration.auditPath).record(AuditEntry(
                actor: PrivacyCommand.operatorName, role: "operator-cli", agency: nil, action: "wzt privacy export", subject: subject,
                purpose: "right-of-access", outcome: .allowed))
            print(String(decoding: try JSONSerialization.data(withJSONObject: export, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
        }
    }
}
