// swift-tools-version:6.1
// libFuzzer harnesses for every parser that takes outside bytes; built apart from the main
// package because each is an executable whose main is libFuzzer's. Run with scripts/fuzz.sh.
import Foundation
import PackageDescription

// The main package, one folder up; a path dependency is known by its folder's name.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()
let settings: [SwiftSetting] = [.swiftLanguageMode(.v6), .unsafeFlags(["-parse-as-library"])]

func harness(_ name: String, _ products: [String]) -> Target {
    .executableTarget(name: "fuzz-\(name)", dependencies: ["FuzzDriver"] + products.map { .product(name: $0, package: root) },
                      path: "Sources/\(name)", swiftSettings: settings)
}

let package = Package(
    name: "TokenWattFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "FuzzDriver", path: "Sources/driver", swiftSettings: [.swiftLanguageMode(.v6)]),
        harness("remote-write", ["TokenWattCore"]),
        harness("exposition-text", ["TokenWattCore"]),
        harness("openmetrics", ["TokenWattCore"]),
        harness("usage-report", ["TokenWattSender"]),
        harness("otlp", ["TokenWattCore", "TokenWattSender"]),
        harness("remote-write-2", ["TokenWattCore"]),
        harness("selector", ["TokenWattCore"]),
        harness("config", ["TokenWattConfiguration", "TokenWattCore"]),
    ]
)
