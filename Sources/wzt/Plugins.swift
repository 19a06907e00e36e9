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

    func run() throws {
        let configuration = try options.load()
        let plugins = PluginLoader.load(directories: configuration.pluginPaths)
        let sources = PluginLoader.builtIn.map { ("built in", $0) } + plugins.loaded.map { ($0.path, $0.provider) }
        for (origin, provider) in sources {
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
