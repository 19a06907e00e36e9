// swift-tools-version:6.1
import PackageDescription

// The contract between wzt and its regional rule sets. A dynamic library, so that the core and
// every plugin loaded at run time share one copy of these types (see docs/plugins.md).
let package = Package(
    name: "PluginAPI",
    products: [
        .library(name: "PluginAPI", type: .dynamic, targets: ["PluginAPI"]),
    ],
    targets: [
        .target(name: "PluginAPI", swiftSettings: [.enableUpcomingFeature("ExistentialAny")]),
    ]
)
