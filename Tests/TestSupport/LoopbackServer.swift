import AsyncHTTPClient
import Hummingbird
import NIOCore
import Synchronization
import TokenWattService

/// The port a test server bound on loopback, known once it runs: pass `onServerRunning` to the
/// `Application` (bound to port 0) and `wait()` for the port.
public final class BoundPort: Sendable {
    private let port = Mutex<Int?>(nil)

    public init() {}

    public var onServerRunning: @Sendable (any Channel) async -> Void {
        { channel in self.port.withLock { $0 = channel.localAddress?.port } }
    }

    /// The port, nil until the server listens.
    public var value: Int? { port.withLock { $0 } }

    /// The port, once the server listens.
    public func wait() async throws -> Int {
        while true {
            if let port = port.withLock({ $0 }) { return port }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// Runs `application` until `body` returns or throws, then stops it.
public func whileRunning<Application: ApplicationProtocol, T: Sendable>(_ application: Application,
                                                                        _ body: () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await application.runService(gracefulShutdownSignals: []) }
        defer { group.cancelAll() }
        return try await body()
    }
}

extension ApplicationConfiguration {
    /// Loopback, on a port the system picks.
    public static var loopback: ApplicationConfiguration { .init(address: .hostname("127.0.0.1", port: 0)) }
}

/// Runs `body` with an HTTP client like the daemons' (`OutboundClient`), shut down afterwards whatever happens.
public func withClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
    let client = OutboundClient.makeHTTPClient()
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}
