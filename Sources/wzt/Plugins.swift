import ArgumentParser
import Core
import Foundation
import ModuleKit
import PluginAPI

struct Plugins: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the regional rule sets: built in, and loaded from plugins.paths.",
        discussion: "Shows each rule set's region, regime and, per offer, the start dates of the cases it governs. Refused plugin files are listed with the reason; the exit status is 1 when the rule book cannot be built."
    )

    @OptionGroup var options: ConfigOptions
    @Flag(help: "One JSON object per rule set and line (refused plugins still go to standard error).") var json = false

    /// A rule set as `--json` prints it.
    private struct Listed: Encodable {
        let id, region, regime, plugin, origin: String
        /// Per offer, the first day of the cases it governs and the first day it no longer does (null: open).
        let offers: [String: [String?]]
    }

    func run() throws {
        let configuration = try options.load()
        let plugins = PluginLoader.load(directories: configuration.pluginPaths)
        let sources = PluginLoader.builtIn.map { ("built in", $0) } + plugins.loaded.map { ($0.path, $0.provider) }
        for (origin, provider) in sources where json {
            for rules in provider.ruleSets {
                let offers = Dictionary(uniqueKeysWithValues: rules.offers.map { ($0.key.rawValue, [$0.value.start.description, $0.value.end?.description]) })
                try printJSON(Listed(id: rules.id, region: rules.region, regime: rules.regime, plugin: provider.pluginName, origin: origin, offers: offers))
            }
        }
        for (origin, provider) in sources where !json {
            for rules in provider.ruleSets {
                print("\(rules.id)  region \(rules.region)  (\(provider.pluginName), \(origin))")
                print("    regime: \(rules.regime)")
                for offer in Offer.allCases {
                    if let interval = rules.offers[offer] { print("    \(offer): cases started \(interval)") }
                }
            }
        }
        for refusal in plugins.refused { printError("refused \(refusal)") }
        do {
            _ = try RuleBook(sources.flatMap { $0.1.ruleSets })
        } catch {
            throw CommandFailure("the rule book cannot be built: \(error)")
        }
    }
}
