// swift-tools-version:6.1
// An integrator's own package: it publishes a screening request to a wzt node and waits for
// intake's answer, with the WZTClient library only (none of the node's own dependencies).
import PackageDescription

let package = Package(
    name: "publisher-example",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "wzt", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "publish-screening", dependencies: [.product(name: "WZTClient", package: "wzt")]),
    ]
)
