import PluginAPI

/// Which build of wzt this is: `wzt --version`, and `wzt_build_info` on `/metrics`.
public enum BuildInfo {
    /// Raised with every release; a build between releases says so with `-dev`.
    public static let version = "0.9.0-dev"
    /// The plugin interface this build loads plugins against (docs/plugins.md).
    public static let pluginAPI = PluginAPI.version
}
