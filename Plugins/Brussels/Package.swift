// swift-tools-version:6.1
import PackageDescription

// The Brussels rule set (Dutch-speaking offer via VDAB–Actiris), linked into the core.
let package = Package(
    name: "Brussels",
    products: [.library(name: "BrusselsRules", targets: ["BrusselsRules"])],
    dependencies: [.package(path: "../PluginAPI")],
    targets: [
        .target(name: "BrusselsRules", dependencies: [.product(name: "PluginAPI", package: "PluginAPI")],
                swiftSettings: [.enableUpcomingFeature("ExistentialAny")]),
    ]
)
