import BrusselsRules
import FlandersRules
import Foundation
import Logging
import ModuleKit
import PluginAPI

/// Loads regional rule sets: the built-in ones, and `.so` plugins from configured directories.
///
/// A file that is not a plugin, or was built against another `PluginAPI` version, is refused
/// with a message; the others load. The API version is compared through a C symbol before any
/// Swift object of the plugin is touched; a loaded plugin is never unloaded (its type metadata
/// stays in use).
public enum PluginLoader {
    public static let builtIn: [any RuleSetProvider] = [Flanders(), Brussels()]

    public struct Loaded: Sendable {
        public let path: String
        public let provider: any RuleSetProvider
    }

    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// The rule book of a process: built-in rule sets and the plugins of `plugins.paths`. Refused
    /// plugins are logged and returned; the process starts with the rest.
    public static func ruleBook(_ configuration: NodeConfiguration, logger: Logger) throws -> (RuleBook, [Refusal]) {
        let plugins = load(directories: configuration.pluginPaths)
        for refusal in plugins.refused {
            logger.error("plugin refused", metadata: ["wzt.plugin": "\(refusal.path)", "wzt.reason": "\(refusal.reason)"])
        }
        return (try RuleBook((builtIn + plugins.loaded.map(\.provider)).flatMap(\.ruleSets)), plugins.refused)
    }

    /// Every `.so` file directly inside `directories`, loaded in name order.
    public static func load(directories: [String]) -> (loaded: [Loaded], refused: [Refusal]) {
        var loaded: [Loaded] = [], refused: [Refusal] = []
        for directory in directories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
                refused.append(Refusal(path: directory, reason: "cannot read the plugin directory; check plugins.paths"))
                continue
            }
            for name in names.sorted() where name.hasSuffix(".so") {
                let path = URL(filePath: directory).appending(path: name).standardizedFileURL.path
                switch load(path: path) {
                case .success(let provider): loaded.append(Loaded(path: path, provider: provider))
                case .failure(let refusal): refused.append(refusal)
                }
            }
        }
        return (loaded, refused)
    }

    public static func load(path: String) -> Result<any RuleSetProvider, Refusal> {
        // A bare name would be searched on the library path, not here.
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        // Checked in the file before loading it: loading runs the library's own code.
        let required: Set<String> = [PluginAPI.versionSymbol, PluginAPI.entrySymbol]
        do throws(ELFSymbols.Unreadable) {
            let missing = required.subtracting(try ELFSymbols.defined(required, in: absolute))
            guard missing.isEmpty else {
                return .failure(Refusal(path: path, reason: "not a wzt plugin: it does not export \(missing.sorted().joined(separator: " and ")) (a library such as libPluginAPI.so does not belong in the plugins directory)"))
            }
        } catch {
            return .failure(Refusal(path: path, reason: "not loadable: \(error.reason)"))
        }
        guard let handle = dlopen(absolute, RTLD_NOW | RTLD_LOCAL) else {
            return .failure(Refusal(path: path, reason: "not loadable: \(dlerrorText())"))
        }
        guard let versionSymbol = dlsym(handle, PluginAPI.versionSymbol) else {
            dlclose(handle)
            return .failure(Refusal(path: path, reason: "not a wzt plugin: it does not export \(PluginAPI.versionSymbol)"))
        }
        typealias VersionFunction = @convention(c) () -> Int32
        let version = unsafeBitCast(versionSymbol, to: VersionFunction.self)()
        guard version == PluginAPI.version else {
            dlclose(handle)
            return .failure(Refusal(path: path, reason: "built against PluginAPI version \(version); this wzt has version \(PluginAPI.version): rebuild the plugin against this wzt's Plugins/PluginAPI"))
        }
        guard let entrySymbol = dlsym(handle, PluginAPI.entrySymbol) else {
            dlclose(handle)
            return .failure(Refusal(path: path, reason: "not a wzt plugin: it does not export \(PluginAPI.entrySymbol)"))
        }
        typealias EntryFunction = @convention(c) () -> UnsafeMutableRawPointer?
        guard let pointer = unsafeBitCast(entrySymbol, to: EntryFunction.self)() else {
            return .failure(Refusal(path: path, reason: "its \(PluginAPI.entrySymbol) returned nothing"))
        }
        let object = Unmanaged<AnyObject>.fromOpaque(pointer).takeRetainedValue()
        guard let provider = object as? any RuleSetProvider else {
            return .failure(Refusal(path: path, reason: "its entry object is not a RuleSetProvider of this wzt's PluginAPI; link the PluginAPI library product dynamically instead of compiling its sources in"))
        }
        return .success(provider)
    }

    private static func dlerrorText() -> String {
        dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
    }
}
