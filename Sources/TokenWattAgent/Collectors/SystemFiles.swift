import Foundation

/// Reads the kernel's text files under a root that tests point at a fixture tree (as
/// node_exporter's `--path.procfs` and `--path.sysfs`).
struct SystemFiles: Sendable {
    let root: String

    func path(_ relative: String) -> String {
        root.hasSuffix("/") ? root + relative : root + "/" + relative
    }

    /// The file's text, or the errno that stopped the read (EACCES for RAPL as non-root, ENOENT).
    func read(_ relative: String) -> Result<String, SystemFileError> {
        let fd = open(path(relative), O_RDONLY)
        guard fd >= 0 else { return .failure(SystemFileError(path: path(relative), code: errno)) }
        defer { close(fd) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if count < 0 { return .failure(SystemFileError(path: path(relative), code: errno)) }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return .success(String(decoding: data, as: UTF8.self))
    }

    /// The file's text without surrounding white space; nil when unreadable.
    func text(_ relative: String) -> String? {
        guard case .success(let text) = read(relative) else { return nil }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The file's text as a number; nil when unreadable or not a number.
    func number(_ relative: String) -> Double? {
        text(relative).flatMap(Double.init)
    }

    /// Where a symbolic link points (`/proc/PID/fd/N` → `socket:[INODE]`); nil when unreadable
    /// (another user's process, gone since it was listed).
    func link(_ relative: String) -> String? {
        var target = [CChar](repeating: 0, count: 4_096)
        let count = target.withUnsafeMutableBufferPointer { readlink(path(relative), $0.baseAddress!, $0.count) }
        return count < 0 ? nil : String(decoding: target.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Entry names of a folder, sorted; empty when it does not exist.
    func list(_ relative: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(relative))) ?? []).sorted()
    }
}

struct SystemFileError: Error, CustomStringConvertible {
    let path: String
    let code: Int32

    var description: String { "\(path): \(String(cString: strerror(code)))" }
}
