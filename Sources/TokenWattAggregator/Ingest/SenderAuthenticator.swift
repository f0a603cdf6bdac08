import Hummingbird
import TokenWattConfiguration
import TokenWattCore
import TokenWattService

/// Who sent a push or a reservation: a node, a gateway, or, where no credential is configured
/// and the listener is on loopback, anyone (the local sender, who may do both).
struct Sender: Sendable, Equatable {
    /// The `node` label of what it pushes.
    let name: String
    /// Nil for the local sender without a credential.
    let role: SenderRole?

    /// Whether it may reserve against the hard caps: a gateway, not a node.
    var reserves: Bool { role != .node }

    /// Whether it may push a series named `name` whose `source` label is `source`: a node
    /// anything (the aggregator's own families apart, refused to all); a gateway its own
    /// families only (`MetricDescriptor.gatewayFamilies`), its token and request counts as the
    /// gateway's (`source` gateway or gateway_local), never an inference server's or a node's.
    func mayPush(name: String, source: String?) -> Bool {
        guard role == .gateway else { return true }
        guard MetricDescriptor.gatewaySeries.contains(name) else { return false }
        guard name == MetricDescriptor.tokens.seriesName || name == MetricDescriptor.requests.seriesName else { return true }
        return source == TokenSource.gateway || source == TokenSource.gatewayLocal
    }
}

/// Maps a request's bearer token or client certificate to its sender.
struct SenderAuthenticator: Sendable {
    private let tokens: BearerTokenTable<Sender>
    private let certificates: [String: Sender]
    private let anonymousNode: String?

    /// `anonymousNode`: the name of pushes without a credential, nil where they are refused.
    init(credentials: [SenderCredential], anonymousNode: String?) {
        tokens = BearerTokenTable(credentials.compactMap { credential in
            credential.token.map { (Array($0.utf8), Sender(name: credential.name, role: credential.role)) }
        })
        certificates = Dictionary(credentials.compactMap { credential in
            credential.clientCertCommonName.map { ($0, Sender(name: credential.name, role: credential.role)) }
        }) { first, _ in first }
        self.anonymousNode = anonymousNode
    }

    /// The sender of a request: by its bearer token, its verified client certificate's common
    /// name, or both when they name the same sender; nil when it must be refused.
    func sender(_ request: Request, context: some ClientCertificateContext) async -> Sender? {
        let byCertificate = certificates.isEmpty ? nil : await context.clientCertificateCommonNames().lazy.compactMap { self.certificates[$0] }.first
        guard let authorization = request.headers[.authorization] else { return byCertificate ?? anonymous(request.headers[.userAgent]) }
        guard let byToken = sender(authorization: authorization), byCertificate == nil || byCertificate == byToken else { return nil }
        return byToken
    }

    /// The sender for an `Authorization` header, or nil when it must be refused; without one,
    /// the local sender the `User-Agent` names (`SenderProgram`).
    func sender(authorization: String?, userAgent: String? = nil) -> Sender? {
        guard let authorization else { return anonymous(userAgent) }
        guard let presented = BearerToken.presented(in: authorization) else { return nil }
        return tokens.owner(of: presented)
    }

    /// The local sender without a credential, where one is allowed: the agent under the host's
    /// name, a gateway under the host's name and `-gateway`.
    private func anonymous(_ userAgent: String?) -> Sender? {
        anonymousNode.map { Sender(name: (SenderProgram(userAgent: userAgent) ?? .agent).anonymousNode($0), role: nil) }
    }
}
