/// The version of this API that a plugin was compiled against.
///
/// `@inlinable`, so the number is copied into each plugin when it is built: the core compares
/// the plugin's copy (exported as `wzt_plugin_api_version`) with its own before it touches any
/// Swift object of the plugin. Raise it on every change a built plugin would not survive.
@frozen
public enum PluginAPI {
    @inlinable public static var version: Int32 { 1 }

    /// The C symbol that returns the plugin's `PluginAPI.version`.
    public static let versionSymbol = "wzt_plugin_api_version"
    /// The C symbol that returns the plugin's `RuleSetProvider`, retained.
    public static let entrySymbol = "wzt_plugin_entry"
}

/// What a plugin hands to the core: one or more rule sets.
///
/// A plugin exports exactly these two C functions (see docs/plugins.md):
/// ```swift
/// @_cdecl("wzt_plugin_api_version")
/// public func wztPluginAPIVersion() -> Int32 { PluginAPI.version }
///
/// @_cdecl("wzt_plugin_entry")
/// public func wztPluginEntry() -> UnsafeMutableRawPointer {
///     Unmanaged.passRetained(MyRules() as AnyObject).toOpaque()
/// }
/// ```
public protocol RuleSetProvider: AnyObject, Sendable {
    /// A name for messages, e.g. the package name.
    var pluginName: String { get }
    var ruleSets: [any RegionalRules] { get }
}
