import Foundation
import TokenWattTestSupport

/// A temporary procfs or sysfs look-alike: files with their contents, removed by `remove()`.
struct FixtureTree {
    let root: String

    init(_ files: [String: String] = [:]) throws {
        root = Environment.temporaryPath("fixture")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for (path, contents) in files { try write(path, contents) }
    }

    func write(_ path: String, _ contents: String) throws {
        let url = URL(fileURLWithPath: root).appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try contents.write(to: url, atomically: true, encoding: .utf8)
    }

    /// A symbolic link at `path` pointing to `target` (relative targets as sysfs uses them).
    func link(_ path: String, to target: String) throws {
        let url = URL(fileURLWithPath: root).appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}
