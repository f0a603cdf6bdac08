import Foundation

/// The stand-in libnvidia-ml.so (FakeNVML/fake_nvml.c): a real shared library that the agent
/// loads through the same `dlopen` path as NVIDIA's, reading the GPUs it reports from a
/// scenario file.
public enum FakeNVMLLibrary {
    public struct BuildError: Error { public let message: String }

    /// Compiles it to `path` with clang (which comes with the Swift toolchain), else cc.
    /// `defines` such as `-DWITHOUT_ENERGY` build an older driver's library.
    public static func build(to path: String, defines: [String] = []) throws(BuildError) {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FakeNVML/fake_nvml.c").path
        try? FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        for compiler in ["clang", "cc"] {
            let arguments = [compiler, "-shared", "-fPIC", "-O1", "-Wall", "-o", path, source] + defines
            guard let child = try? ChildProcess("/usr/bin/env", arguments, logPath: path + ".log") else { continue }
            if child.waitUntilExit() == 0 { return }
        }
        throw BuildError(message: "cannot compile \(source) with clang or cc")
    }
}
