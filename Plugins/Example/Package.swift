// swift-tools-version:6.1
import PackageDescription

// A regional plugin built on its own (`swift build` in this folder) and loaded by wzt at run
// time from plugins.paths: the fictional region example-east.
let package = Package(
    name: "Example",
    products: [.library(name: "ExampleRules", type: .dynamic, targets: ["ExampleRules"])],
    dependencies: [.package(path: "../PluginAPI")],
    targets: [
        .target(name: "ExampleRules", dependencies: [.product(name: "PluginAPI", package: "PluginAPI")],
                swiftSettings: [.enableUpcomingFeature("ExistentialAny")]),
    ]
)
