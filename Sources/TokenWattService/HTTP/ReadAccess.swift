import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import NIOPosix
import Synchronization
import TokenWattCore

/// Who may read a daemon's answers (`web.readers` and `web.basic_auth_users`): bearer tokens,
/// and users whose passwords are kept as bcrypt hashes, as in Prometheus's web configuration.
/// None listed: reads are open, which a daemon allows beyond loopback only when the config says
/// so (`unauthenticated_reads`, `WebConfiguration.checkReads`). Writes never take these
/// credentials, and a reader credential never pushes.
public struct ReaderCredentials: Sendable, Equatable {
    public struct Token: Sendable, Equatable {
        public var name: String
        public var token: [UInt8]

        public init(name: String, token: String) {
            self.name = name
            self.token = Array(token.utf8)
        }
    }

    public var tokens: [Token] = []
    /// User name → bcrypt hash (`$2a$`, `$2b$` or `$2y$`).
    public var users: [String: String] = [:]
    /// `/metrics` answered without credentials, for Prometheus setups that scrape without them.
    public var unauthenticatedMetrics = false
    /// Reads open to anyone on purpose, with no reader listed, beyond loopback too.
    public var unauthenticatedReads = false

    public init() {}

    public var isEmpty: Bool { tokens.isEmpty && users.isEmpty }

    /// The `readers`, `basic_auth_users`, `unauthenticated_metrics` and `unauthenticated_reads`
    /// keys of a `web:` mapping.
    public init(web node: ConfigNode, environment: [String: String]) throws(CoreError) {
        for item in try node["readers"].items() {
            try item.requireMapping(allowing: ["name", "token_file", "token_env"])
            guard let name = try item["name"].string(), !name.isEmpty else { throw item["name"].error("the reader's name") }
            guard let token = try item.secret(named: "token", environment: environment) else { throw item.error("token_file or token_env") }
            tokens.append(Token(name: name, token: token))
        }
        for (user, hashNode) in try node["basic_auth_users"].entries() {
            guard let hash = try hashNode.string(), ReaderCredentials.isBcryptHash(hash) else {
                throw hashNode.error("a bcrypt hash of the password ($2y$..., 60 characters; `tokenwatt hash-password` makes one)")
            }
            users[user] = hash
        }
        unauthenticatedMetrics = try node["unauthenticated_metrics"].bool(default: false)
        unauthenticatedReads = try node["unauthenticated_reads"].bool(default: false)
        guard !unauthenticatedReads || isEmpty else {
            throw node["unauthenticated_reads"].error("false, or no readers and users: reads are either open to anyone or need a credential")
        }
    }

    static func isBcryptHash(_ text: String) -> Bool {
        text.utf8.count == 60 && ["$2a$", "$2b$", "$2y$"].contains { text.hasPrefix($0) }
    }
}

/// Checks a request's reader credential. A bcrypt check takes tens of milliseconds by design:
/// it runs on NIO's thread pool, and its answer is remembered for that user, password and
/// hash (a bounded set), so a dashboard's every panel does not pay it again.
public final class ReadAuthenticator: Sendable {
    public let credentials: ReaderCredentials
    private let tokens: BearerTokenTable<String>
    private let checked = Mutex<[SHA256Digest: Bool]>([:])
    static let maxRemembered = 1024

    public init(_ credentials: ReaderCredentials) {
        self.credentials = credentials
        tokens = BearerTokenTable(credentials.tokens.map { ($0.token, $0.name) })
    }

    /// The reader's name, or nil when the header names none.
    public func reader(authorization: String?) async -> String? {
        guard let authorization else { return nil }
        if let presented = BearerToken.presented(in: authorization) {
            return tokens.owner(of: presented)
        }
        guard let (user, password) = ReadAuthenticator.basic(authorization), let hash = credentials.users[user] else { return nil }
        let key = SHA256.hash(data: Array("\(user)\0\(password)\0\(hash)".utf8))
        if let known = checked.withLock({ $0[key] }) { return known ? user : nil }
        let valid = (try? await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }) ?? false
        checked.withLock { remembered in
            if remembered.count >= ReadAuthenticator.maxRemembered { remembered.removeAll() }
            remembered[key] = valid
        }
        return valid ? user : nil
    }

    /// `Basic base64(user:password)`, the scheme matched without regard to case.
    static func basic(_ authorization: String) -> (String, String)? {
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic", let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }
}

/// Requires a reader credential for every read (GET and HEAD, and the POSTs named as reads)
/// but `/-/healthy`, when readers are configured: 401 with a `WWW-Authenticate` challenge.
public struct ReadAccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let authenticator: ReadAuthenticator
    let readPosts: Set<String>

    public init(authenticator: ReadAuthenticator, readPosts: Set<String> = []) {
        self.authenticator = authenticator
        self.readPosts = readPosts
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard needsReader(request), await authenticator.reader(authorization: request.headers[.authorization]) == nil else {
            return try await next(request, context)
        }
        return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Basic realm=\"tokenwatt\", Bearer realm=\"tokenwatt\"", .contentType: "text/plain"],
                        body: .init(byteBuffer: ByteBuffer(string: "a reader's token or user is required (web.readers, web.basic_auth_users)\n")))
    }

    func needsReader(_ request: Request) -> Bool {
        let credentials = authenticator.credentials
        guard !credentials.isEmpty else { return false }
        let path = request.uri.path
        let read = request.method == .get || request.method == .head || (request.method == .post && readPosts.contains(path))
        return read && path != "/-/healthy" && !(credentials.unauthenticatedMetrics && path == "/metrics")
    }
}
