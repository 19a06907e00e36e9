import ArgumentParser
import Bus
import Core
import Foundation

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List, inspect, retry or discard events that a module could not handle.",
        discussion: "Works on the data directory of a node on this host. A retry is picked up by the running node within a second.",
        subcommands: [List.self, Show.self, Retry.self, Discard.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters (open ones unless --all).")

        @OptionGroup var options: ConfigOptions
        @Flag(help: "Include retried and discarded ones.") var all = false
        @Option(help: "Only this module's.") var module: String?
        @Flag(help: "One JSON object per dead letter and line.") var json = false

        func run() async throws {
            let log = try await LocalLog.open(try options.load())
            defer { log.close() }
            let letters = try await log.deadLetters(status: all ? nil : .open, subscription: module)
            if json { return try letters.forEach(printJSON) }
            guard !letters.isEmpty else {
                print(all ? "no dead letters" : "no open dead letters")
                return
            }
            for letter in letters {
                print("\(letter.id)  \(letter.status.rawValue)  \(letter.subscription)  offset \(letter.eventOffset)  \(letter.eventType)  attempts \(letter.attempts)  \(letter.updatedAt)")
                print("    \(letter.error)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead letter with its event.")

        @OptionGroup var options: ConfigOptions
        @Argument(help: "Dead letter id (from `list`).") var id: Int64
        @Flag(help: "The dead letter as one JSON object, its event's envelope as stored under `envelope`.") var json = false

        func run() async throws {
            let log = try await LocalLog.open(try options.load())
            defer { log.close() }
            guard let letter = try log.deadLetter(id: id) else { throw CommandFailure("no dead letter \(id); `wzt dead-letters list --all` shows them") }
            if json {
                // The envelope goes out as the log holds it, not re-encoded.
                var object = Array(try JSONEncoder().encode(letter).dropLast())
                if let event = try await log.event(at: letter.eventOffset) { object += Array(#","envelope":"#.utf8) + event.json }
                return print(String(decoding: object + [UInt8(ascii: "}")], as: UTF8.self))
            }
            print("""
                dead letter \(letter.id) (\(letter.status.rawValue))
                module:   \(letter.subscription)
                event:    \(letter.eventID) at offset \(letter.eventOffset), type \(letter.eventType)
                attempts: \(letter.attempts)
                first:    \(letter.createdAt)
                last:     \(letter.updatedAt)
                error:    \(letter.error)
                """)
            if let event = try await log.event(at: letter.eventOffset) {
                print("envelope:\n" + String(decoding: event.json, as: UTF8.self))
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask the running node to deliver the event to its module again.")

        @OptionGroup var options: ConfigOptions
        @Argument(help: "Dead letter id (from `list`).") var id: Int64

        func run() async throws {
            let log = try await LocalLog.open(try options.load())
            defer { log.close() }
            guard try await log.setDeadLetterStatus(id: id, to: .retry, from: [.open]) else {
                throw CommandFailure("dead letter \(id) is not open; `wzt dead-letters show \(id)` tells its status")
            }
            print("dead letter \(id) marked for retry; the node delivers it again shortly")
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark a dead letter as needing no handling (kept for the record).")

        @OptionGroup var options: ConfigOptions
        @Argument(help: "Dead letter id (from `list`).") var id: Int64

        func run() async throws {
            let log = try await LocalLog.open(try options.load())
            defer { log.close() }
            guard try await log.setDeadLetterStatus(id: id, to: .discarded, from: [.open, .retry]) else {
                throw CommandFailure("dead letter \(id) is neither open nor waiting for a retry")
            }
            print("dead letter \(id) discarded")
        }
    }
}
