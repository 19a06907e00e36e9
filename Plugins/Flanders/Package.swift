// swift-tools-version:6.1
import PackageDescription

// Rule sets flanders-2014 and flanders-2022, linked into the core.
let package = Package(
    name: "Flanders",
    products: [.library(name: "FlandersRules", targets: ["FlandersRules"])],
    dependencies: [.package(path: "../PluginAPI")],
    targets: [
        .target(name: "FlandersRules", dependencies: [.product(name: "PluginAPI", package: "PluginAPI")],
                swiftSettings: [.enableUpcomingFeature("ExistentialAny")]),
    ]
)
