import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking work (waiting for a child, reading a pipe or a socket) on a Dispatch thread,
/// never on one of the cooperative pool's: the pool has a thread per core, two here, and one
/// blocked for seconds stalls the tasks of every test running beside it.
public func offThePool<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: Result { () throws(E) in try work() }) }
    }
    return try result.get()
}

/// A child process (a TokenWatt binary or a real peer) killed when the test ends. Started with
/// posix_spawn, not Foundation's `Process`, whose `run()` crashed the test process (in memcpy)
/// when many tests started children at once.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    public let logPath: String
    /// The wait status once the child is reaped; every reap happens under this lock, so a poll
    /// (`isRunning`) and a blocking wait never race for it.
    private let reaped = Mutex<Int32?>(nil)

    /// Standard output and error go to `logPath`, or error to `errorPath` when given.
    public init(_ executable: String, _ arguments: [String], logPath: String, errorPath: String? = nil,
                environment: [String: String] = [:], directory: String? = nil) throws {
        self.logPath = logPath
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if let errorPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // Nothing else the test process holds open (listeners, databases) leaks into the child.
        _ = GNUSpawn.addCloseFrom(&actions, 3)
        if let directory { _ = GNUSpawn.addChdir(&actions, directory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with default dispositions and no blocked signals, whatever the test
        // runner ignores (SIGPIPE) or blocks.
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard status == 0 else {
            throw SocketError(message: "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        self.pid = pid
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Reaps the child if it has exited; its wait status then.
    private func reap() -> Int32? {
        reaped.withLock { status in
            if status == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid { status = raw }
            }
            return status
        }
    }

    public var isRunning: Bool { reap() == nil }

    /// The exit code of an exited child (128 + the signal for one killed by a signal, as a
    /// shell says); nil while it runs.
    public var terminationStatus: Int32? {
        guard let raw = reap() else { return nil }
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }

    /// Waits until `url` answers 200. On a timeout it says why: a process that exited (a port
    /// taken meanwhile, a config refused) left its reason at the end of its log.
    public func waitUntilServing(_ url: String, what: String) async throws {
        do {
            _ = try await HTTP.waitFor(what) { try await HTTP.get(url).status == 200 ? true : nil }
        } catch {
            let state = terminationStatus.map { "exited with \($0)" } ?? "still running"
            await kill()
            throw WaitTimeout(what: "\(what) (\(state); its log: \(log.suffix(2_000)))")
        }
    }

    /// Sends the signal and waits until the process has exited.
    public func kill(signal: Int32 = SIGKILL) async {
        guard isRunning else { return }
        Glibc.kill(pid, signal)
        _ = await exitStatus()
    }

    /// Waits until the process has exited; its exit status.
    public func exitStatus() async -> Int32 {
        await offThePool { self.waitUntilExit() }
    }

    /// Blocks until the process has exited; its exit status. Waits without reaping, so that
    /// only `reap` reaps.
    public func waitUntilExit() -> Int32 {
        var info = siginfo_t()
        while reap() == nil && waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == -1 && errno == EINTR {}
        return terminationStatus ?? -1
    }

    /// Runs a command to its end; its exit status and output (standard output and error).
    public static func run(_ executable: String, _ arguments: [String], directory: String,
                    environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let name = URL(fileURLWithPath: executable).lastPathComponent
        let child = try ChildProcess(executable, arguments, logPath: "\(directory)/\(name)-\(UUID().uuidString).log", environment: environment)
        return (await child.exitStatus(), child.log)
    }

    deinit {
        guard isRunning else { return }
        Glibc.kill(pid, SIGKILL)
        _ = waitUntilExit()
    }
}

/// glibc's posix_spawn extensions (2.29, 2.34), which its headers hide from Swift behind
/// _GNU_SOURCE: looked up once by name.
private enum GNUSpawn {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static let addCloseFrom = unsafeBitCast(symbol("posix_spawn_file_actions_addclosefrom_np"), to: AddCloseFrom.self)
    static let addChdir = unsafeBitCast(symbol("posix_spawn_file_actions_addchdir_np"), to: AddChdir.self)

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer {
        guard let address = dlsym(nil, name) else { fatalError("glibc without \(name): 2.34 or later is needed") }
        return address
    }
}

public enum Environment {
    /// The folder holding the built executables: beside the test bundle.
    public static var binDirectory: String {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("tokenwatt-aggregator").path) && url.path != "/" {
            url.deleteLastPathComponent()
        }
        return url.path
    }

    public static var aggregatorPath: String { binDirectory + "/tokenwatt-aggregator" }

    /// The virtual environment `scripts/install-dependencies.sh --with-test-peers` makes, with
    /// the independent clients the tests check against (standardwebhooks, bcrypt).
    public static var python: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent(".build/test-venv/bin/python").path
    }
    public static var agentPath: String { binDirectory + "/tokenwatt-agent" }
    public static var gatewayPath: String { binDirectory + "/tokenwatt-gateway" }

    /// A path of its own under the system's temporary folder, not created.
    public static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tokenwatt-\(name)-\(UUID().uuidString)").path
    }

    public static func temporaryDirectory(_ name: String) throws -> String {
        let path = temporaryPath(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A loopback port nobody listens on right now.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public enum HTTP {
    public static func get(_ url: String, headers: [(String, String)] = [], client: HTTPClient = .shared) async throws -> (status: UInt, body: String) {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        return (response.status.code, String(buffer: body))
    }

    public static func post(_ url: String, body: [UInt8], headers: [(String, String)], client: HTTPClient = .shared) async throws -> (status: UInt, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(10))
        let text = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, String(buffer: text))
    }

    /// Polls `check` every 200 ms until it returns a value or `seconds` pass.
    public static func waitFor<T>(_ what: String, seconds: Double = 30, _ check: () async throws -> T?) async throws -> T {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let value = try? await check() { return value }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw WaitTimeout(what: what)
    }
}

public struct WaitTimeout: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "timed out waiting for \(what)" }

    public init(what: String) {
        self.what = what
    }
}

/// A Unix datagram socket bound at a path, standing in for systemd's notify socket or the
/// journal's; closed and removed by `close()`.
public final class DatagramSocket: Sendable {
    public let path: String
    private let fd: Int32

    public init(path: String, timeoutSeconds: Int = 10) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            _ = path.utf8CString.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(buffer.count))) }
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            Glibc.close(fd)
            throw SocketError(message: "cannot bind \(path): \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The datagrams received until `done` holds for them or the timeout passes.
    public func receive(until done: @escaping @Sendable ([String]) -> Bool) async -> [String] {
        await offThePool { self.receiveBlocking(until: done) }
    }

    private func receiveBlocking(until done: ([String]) -> Bool) -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !done(messages) {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            messages.append(String(decoding: buffer[0..<count], as: UTF8.self))
        }
        return messages
    }

    public func close() {
        Glibc.close(fd)
        try? FileManager.default.removeItem(atPath: path)
    }
}

public struct SocketError: Error {
    public let message: String
}
