import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import NIOSSL
import Synchronization
import TokenWattCore

/// What one client may hold of a daemon's HTTP server: without these, a thousand idle or
/// slow connections stop every push (and the process runs out of file descriptors). A fleet
/// often reaches a daemon through one address (NAT, a site gateway, a proxy), so the cap per
/// address holds only the connections that have not shown a credential; a connection whose
/// request carries a valid one (a node's token, a reader's, a caller's key, a verified client
/// certificate) counts against that credential instead.
public struct ConnectionLimits: Sendable, Equatable {
    /// A connection that sends nothing for this long (mid-request or between requests) is
    /// closed; a request head dripped byte by byte counts as nothing sent (default 30 s).
    public var idleTimeout: Duration = .seconds(30)
    /// Open connections without a credential one client address may hold (default 256): a
    /// newer one closes the oldest of them that have been open `ClientConnections.grace`, so
    /// idle or slow sockets cannot keep a node out. A burst of connections that are all younger (a
    /// fleet reconnecting at once) may hold up to `ClientConnections.burst` times as many.
    public var maxUnauthenticatedConnectionsPerClient = 256
    /// Open connections one credential may hold (default 64); past it, a connection counts
    /// as one without a credential.
    public var maxConnectionsPerCredential = 64

    public init() {}
}

/// The credential a request head presents, checked: its owner's name, or nil. Runs on the
/// connection's event loop for each request until one succeeds, so it must be cheap (a token
/// table lookup, never a bcrypt check).
public typealias CredentialCheck = @Sendable (HTTPFields) -> String?

/// A daemon's open connections: those without a credential by client address (oldest first),
/// those with one by credential, and how many were closed to make room.
public final class ClientConnections: Sendable {
    /// How long a connection may take to show its credential before a newer one from its
    /// address may close it: a node's first request comes within milliseconds, TLS included.
    public static let grace: Duration = .seconds(1)
    /// How far past its limit an address may go while all its connections without a
    /// credential are younger than `grace`.
    public static let burst = 4

    /// One open connection: what `open` gives back, to `identify` and `close` it with.
    public struct Connection: Sendable, Hashable {
        let id: UInt64
        let client: String
    }

    private struct State {
        var next: UInt64 = 0
        /// Connections without a credential, by client address, with how to close them and when
        /// they opened (ids grow with time: the smallest is the oldest).
        var unidentified: [String: [UInt64: (close: Close, opened: ContinuousClock.Instant)]] = [:]
        var credentialOf: [UInt64: String] = [:]
        var byCredential: [String: Int] = [:]
        var evicted = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Connections without a credential closed because a newer one came from their address.
    public var evicted: Int { state.withLock { $0.evicted } }

    /// Open connections: with a credential, and without.
    public var held: (identified: Int, unidentified: Int) {
        state.withLock { state in (state.credentialOf.count, state.unidentified.values.reduce(0) { $0 + $1.count }) }
    }

    /// Closes a connection (its channel's `close`).
    typealias Close = @Sendable () -> Void

    /// Counts a new connection from `client`. Past `limit` without a credential, also gives
    /// back the oldest such connections of that client to be closed: those open `grace` or
    /// longer, down to the limit, and any past `burst` times the limit.
    func open(_ client: String, limit: Int, now: ContinuousClock.Instant = .now, close: @escaping Close) -> (connection: Connection, evict: [Close]) {
        state.withLock { state in
            state.next += 1
            let connection = Connection(id: state.next, client: client)
            state.unidentified[client, default: [:]][connection.id] = (close, now)
            guard let held = state.unidentified[client], held.count > limit else { return (connection, []) }
            func evictable(_ opened: ContinuousClock.Instant, holding count: Int) -> Bool {
                count > ClientConnections.burst * limit || (count > limit && opened.duration(to: now) >= ClientConnections.grace)
            }
            // Within a burst the oldest is young too: nothing to sort.
            guard let oldest = held.min(by: { $0.key < $1.key }), evictable(oldest.value.opened, holding: held.count) else { return (connection, []) }
            var evict: [Close] = []
            for (id, entry) in held.sorted(by: { $0.key < $1.key }) {
                guard evictable(entry.opened, holding: held.count - evict.count) else { break }
                state.unidentified[client]?[id] = nil
                evict.append(entry.close)
            }
            state.evicted += evict.count
            return (connection, evict)
        }
    }

    /// Moves a connection without a credential to `credential`'s count, unless that holds
    /// `limit` already; true when it moved.
    func identify(_ connection: Connection, as credential: String, limit: Int) -> Bool {
        state.withLock { state in
            guard state.unidentified[connection.client]?[connection.id] != nil, state.byCredential[credential, default: 0] < limit else { return false }
            state.unidentified[connection.client]?[connection.id] = nil
            if state.unidentified[connection.client]?.isEmpty == true { state.unidentified[connection.client] = nil }
            state.credentialOf[connection.id] = credential
            state.byCredential[credential, default: 0] += 1
            return true
        }
    }

    func close(_ connection: Connection) {
        state.withLock { state in
            if let credential = state.credentialOf.removeValue(forKey: connection.id) {
                state.byCredential[credential, default: 1] -= 1
                if state.byCredential[credential] == 0 { state.byCredential[credential] = nil }
            } else {
                state.unidentified[connection.client]?[connection.id] = nil
                if state.unidentified[connection.client]?.isEmpty == true { state.unidentified[connection.client] = nil }
            }
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with an idle timeout and caps on each client's connections (`ConnectionLimits`;
    /// `credential` says who a request head names). With `onChannelLoop`, each connection's
    /// requests are handled on its channel's event loop (for a proxy: the outbound request then
    /// goes out on that loop too, and a request crosses no thread in the process; its handlers
    /// must not block for long). With `tls`, connections speak TLS first (and a client
    /// certificate is asked for as it says; a verified one is a credential).
    public static func guarded(_ limits: ConnectionLimits, connections: ClientConnections = ClientConnections(),
                               credential: @escaping CredentialCheck = { _ in nil }, tls: TLSServerContext? = nil,
                               onChannelLoop: Bool = false) -> HTTPServerBuilder {
        .init { responder in
            GuardedHTTP1Channel(responder: responder, limits: limits, connections: connections, credential: credential, tls: tls,
                                onChannelLoop: onChannelLoop)
        }
    }
}

/// Hummingbird's HTTP/1 channel, each connection counted by client (and, once a request shows
/// one, by credential) before it is set up.
struct GuardedHTTP1Channel: ServerChildChannel {
    let responder: HTTPChannelHandler.Responder
    let limits: ConnectionLimits
    let connections: ClientConnections
    let credential: CredentialCheck
    let tls: TLSServerContext?
    let onChannelLoop: Bool
    /// What handles every connection's requests once it is set up (its handlers are the setup's).
    let handling: HTTP1Channel

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, connections: ClientConnections, credential: @escaping CredentialCheck,
         tls: TLSServerContext?, onChannelLoop: Bool) {
        self.responder = responder
        self.limits = limits
        self.connections = connections
        self.credential = credential
        self.tls = tls
        self.onChannelLoop = onChannelLoop
        handling = HTTP1Channel(responder: responder, configuration: .init(idleTimeout: .init(limits.idleTimeout)))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        let client = channel.remoteAddress?.ipAddress ?? "unknown"
        let (connection, evict) = connections.open(client, limit: limits.maxUnauthenticatedConnectionsPerClient) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { [connections] _ in connections.close(connection) }
        if !evict.isEmpty {
            logger.debug("closed the oldest connections without a credential of a client past its limit",
                         metadata: ["client": "\(client)", "closed": "\(evict.count)"])
            for close in evict { close() }
        }
        // The TLS handler, kept for the credential handler to read the client certificate from.
        let ssl = tls.map { NIOLoopBound(NIOSSLServerHandler(context: $0.context), eventLoop: channel.eventLoop) }
        if let ssl {
            do {
                try channel.pipeline.syncOperations.addHandler(ssl.value)
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
        let identify: @Sendable () -> [any RemovableChannelHandler] = { [connections, credential, limits] in
            [CredentialHandler(connection: connection, connections: connections, check: credential, limit: limits.maxConnectionsPerCredential,
                               tls: ssl?.value)]
        }
        // A channel of its own for each connection: it carries the connection to its credential handler.
        return HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: identify(), idleTimeout: .init(limits.idleTimeout)))
            .setup(channel: channel, logger: logger)
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        guard onChannelLoop else { return await handling.handle(value: value, logger: logger) }
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await handling.handle(value: value, logger: logger)
        }
    }
}

/// Reads each request head of a connection until one presents a valid credential (a verified
/// client certificate, or what `check` accepts), then counts the connection against it.
final class CredentialHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let connection: ClientConnections.Connection
    private let connections: ClientConnections
    private let check: CredentialCheck
    private let limit: Int
    private let tls: NIOSSLServerHandler?
    private var identified = false

    init(connection: ClientConnections.Connection, connections: ClientConnections, check: @escaping CredentialCheck, limit: Int,
         tls: NIOSSLServerHandler?) {
        self.connection = connection
        self.connections = connections
        self.check = check
        self.limit = limit
        self.tls = tls
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !identified, case .head(let request) = unwrapInboundIn(data), let name = credential(of: request, context: context) {
            identified = connections.identify(connection, as: name, limit: limit)
        }
        context.fireChannelRead(data)
    }

    private func credential(of request: HTTPRequest, context: ChannelHandlerContext) -> String? {
        // The handshake asks for a certificate only where a CA is configured, and fails one
        // that does not chain to it: a certificate here was verified.
        if let certificate = tls?.peerCertificate {
            return "certificate \(certificate.description)"
        }
        return check(request.headerFields)
    }
}

/// A listener's `web:` mapping in both daemons' config files: connection limits
/// (`idle_timeout`, `max_unauthenticated_connections_per_client`,
/// `max_connections_per_credential`), TLS (`tls_server_config`) and who may
/// read (`readers`, `basic_auth_users`, `unauthenticated_metrics`).
public struct WebConfiguration: Sendable, Equatable {
    public var limits = ConnectionLimits()
    public var tls: TLSServerConfiguration?
    public var readers = ReaderCredentials()

    public init(limits: ConnectionLimits = ConnectionLimits()) {
        self.limits = limits
    }

    /// What the mapping leaves out keeps its value in `defaults`.
    public init(_ node: ConfigNode, defaults: WebConfiguration = WebConfiguration(), environment: [String: String]) throws(CoreError) {
        self = defaults
        let allowed: Set<String> = ["idle_timeout", "max_unauthenticated_connections_per_client", "max_connections_per_credential", "tls_server_config",
                                    "readers", "basic_auth_users", "unauthenticated_metrics", "unauthenticated_reads"]
        guard !node["max_connections_per_client"].isPresent else {
            // Its meaning changed: a fleet behind one address is no longer capped as one client.
            throw node["max_connections_per_client"].error("no such key (now max_unauthenticated_connections_per_client, for connections that have "
                                                             + "shown no credential; those that have count against max_connections_per_credential)")
        }
        try node.requireMapping(allowing: allowed)
        limits.idleTimeout = .milliseconds(try node["idle_timeout"].durationMilliseconds(default: Int64(limits.idleTimeout.seconds * 1000)))
        for (key, limit) in [("max_unauthenticated_connections_per_client", \ConnectionLimits.maxUnauthenticatedConnectionsPerClient),
                             ("max_connections_per_credential", \ConnectionLimits.maxConnectionsPerCredential)] {
            limits[keyPath: limit] = try node[key].int(default: limits[keyPath: limit])
            guard limits[keyPath: limit] > 0 else { throw node[key].error("a positive number of connections") }
        }
        tls = try TLSServerConfiguration(node["tls_server_config"])
        readers = try ReaderCredentials(web: node, environment: environment)
    }

    /// Refuses a listener beyond loopback whose reads need no credential, unless the config
    /// opens them on purpose: the answers name teams, models and money. `source` names where
    /// the listener came from (the config file, or `--listen`).
    public func checkReads(listen: ListenAddress, source: String) throws(CoreError) {
        guard !listen.isLoopback, readers.isEmpty, !readers.unauthenticatedReads else { return }
        throw .config(file: source, key: "web.readers",
                      expected: "readers (web.readers or web.basic_auth_users) when listening on \(listen), beyond loopback: without them anyone "
                          + "who reaches the port reads the fleet's teams, models and money (add readers, set web.unauthenticated_reads: true "
                          + "to open reads on purpose, or listen on 127.0.0.1)")
    }

    /// The server: guarded, with TLS when configured. A connection's credential is a reader's
    /// token or what `credential` accepts (a node's token, a caller's key).
    public func server(connections: ClientConnections = ClientConnections(), credential: @escaping CredentialCheck = { _ in nil },
                       tls context: TLSServerContext?, onChannelLoop: Bool = false) -> HTTPServerBuilder {
        let readers = BearerTokenTable(readers.tokens.map { ($0.token, $0.name) })
        return .guarded(limits, connections: connections, credential: { fields in
            if let authorization = fields[.authorization], let presented = BearerToken.presented(in: authorization),
               let reader = readers.owner(of: presented) {
                return "reader \(reader)"
            }
            return credential(fields)
        }, tls: context, onChannelLoop: onChannelLoop)
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
