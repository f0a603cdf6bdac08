import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import Synchronization
import TokenWattCore

/// What one client may hold of a daemon's HTTP server: without these, a thousand idle or
/// slow connections stop every push (and the process runs out of file descriptors).
public struct ConnectionLimits: Sendable, Equatable {
    /// A connection that sends nothing for this long (mid-request or between requests) is
    /// closed; a request head dripped byte by byte counts as nothing sent (default 30 s).
    public var idleTimeout: Duration = .seconds(30)
    /// Open connections one client address may hold; the next is closed at once (default 256).
    public var maxConnectionsPerClient = 256

    public init() {}
}

/// Open connections by client address, and those refused past the limit.
public final class ConnectionCounter: Sendable {
    private let state = Mutex<(open: [String: Int], refused: Int)>(([:], 0))

    public init() {}

    /// Connections closed at once because their client held too many.
    public var refused: Int { state.withLock { $0.refused } }

    /// Counts a new connection; false (and counted as refused) past the limit.
    func open(_ client: String, limit: Int) -> Bool {
        state.withLock { state in
            guard state.open[client, default: 0] < limit else {
                state.refused += 1
                return false
            }
            state.open[client, default: 0] += 1
            return true
        }
    }

    func close(_ client: String) {
        state.withLock { state in
            state.open[client, default: 1] -= 1
            if state.open[client] == 0 { state.open[client] = nil }
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with an idle timeout and a cap on each client's connections. With
    /// `onChannelLoop`, each connection's requests are handled on its channel's event loop
    /// (for a proxy: the outbound request then goes out on that loop too, and a request
    /// crosses no thread in the process; its handlers must not block for long).
    /// With `tls`, connections speak TLS first (and a client certificate is asked for as it says).
    public static func guarded(_ limits: ConnectionLimits, counter: ConnectionCounter = ConnectionCounter(), tls: TLSServerContext? = nil,
                               onChannelLoop: Bool = false) -> HTTPServerBuilder {
        .init { responder in
            GuardedHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: .init(idleTimeout: .init(limits.idleTimeout))),
                                limits: limits, counter: counter, tls: tls, onChannelLoop: onChannelLoop)
        }
    }
}

/// Hummingbird's HTTP/1 channel, counting each connection by client before it is set up.
struct GuardedHTTP1Channel: ServerChildChannel {
    let inner: HTTP1Channel
    let limits: ConnectionLimits
    let counter: ConnectionCounter
    let tls: TLSServerContext?
    let onChannelLoop: Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        let client = channel.remoteAddress?.ipAddress ?? "unknown"
        guard counter.open(client, limit: limits.maxConnectionsPerClient) else {
            logger.debug("connection refused: too many from one client", metadata: ["client": "\(client)"])
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        channel.closeFuture.whenComplete { _ in counter.close(client) }
        if let tls {
            do {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context))
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        guard onChannelLoop else { return await inner.handle(value: value, logger: logger) }
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await inner.handle(value: value, logger: logger)
        }
    }
}

/// A listener's `web:` mapping in both daemons' config files: connection limits
/// (`idle_timeout`, `max_connections_per_client`), TLS (`tls_server_config`) and who may
/// read (`readers`, `basic_auth_users`, `unauthenticated_metrics`).
public struct WebConfiguration: Sendable, Equatable {
    public var limits = ConnectionLimits()
    public var tls: TLSServerConfiguration?
    public var readers = ReaderCredentials()

    public init(limits: ConnectionLimits = ConnectionLimits()) {
        self.limits = limits
    }

    /// What the mapping leaves out keeps its value in `defaults`. `readers: false` for a
    /// listener that serves no reads (the gateway's).
    public init(_ node: ConfigNode, defaults: WebConfiguration = WebConfiguration(), environment: [String: String],
                readers allowReaders: Bool = true) throws(CoreError) {
        self = defaults
        var allowed: Set<String> = ["idle_timeout", "max_connections_per_client", "tls_server_config"]
        if allowReaders { allowed.formUnion(["readers", "basic_auth_users", "unauthenticated_metrics"]) }
        try node.requireMapping(allowing: allowed)
        limits.idleTimeout = .milliseconds(try node["idle_timeout"].durationMilliseconds(default: Int64(limits.idleTimeout.seconds * 1000)))
        limits.maxConnectionsPerClient = try node["max_connections_per_client"].int(default: limits.maxConnectionsPerClient)
        guard limits.maxConnectionsPerClient > 0 else { throw node["max_connections_per_client"].error("a positive number of connections") }
        tls = try TLSServerConfiguration(node["tls_server_config"])
        if allowReaders { readers = try ReaderCredentials(web: node, environment: environment) }
    }

    /// The server: guarded, with TLS when configured.
    public func server(counter: ConnectionCounter = ConnectionCounter(), tls context: TLSServerContext?, onChannelLoop: Bool = false) -> HTTPServerBuilder {
        .guarded(limits, counter: counter, tls: context, onChannelLoop: onChannelLoop)
    }
}

/// Runs a task's jobs on one event loop. A connection's task on its channel's loop crosses no
/// thread between reading a request, answering it and writing the answer, and AsyncHTTPClient
/// (whose `any()` loop is then the current one) sends a proxied request out on it too.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
