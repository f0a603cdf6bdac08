import Hummingbird
import TokenWattConfiguration
import TokenWattService

/// Maps a push's bearer token to the node it belongs to.
struct NodeAuthenticator: Sendable {
    private let tokens: BearerTokenTable<String>
    private let certificates: [String: String]
    private let anonymousNode: String?

    init(nodes: [NodeCredential], anonymousNode: String?) {
        tokens = BearerTokenTable(nodes.compactMap { node in node.token.map { (Array($0.utf8), node.name) } })
        certificates = Dictionary(nodes.compactMap { node in node.clientCertCommonName.map { ($0, node.name) } }) { first, _ in first }
        self.anonymousNode = anonymousNode
    }

    /// The node of a request: by its bearer token, its verified client certificate's common
    /// name, or both when they name the same node; nil when it must be refused.
    func node(_ request: Request, context: some ClientCertificateContext) async -> String? {
        let byCertificate = certificates.isEmpty ? nil : await context.clientCertificateCommonNames().lazy.compactMap { self.certificates[$0] }.first
        guard let authorization = request.headers[.authorization] else { return byCertificate ?? anonymousNode }
        guard let byToken = node(authorization: authorization), byCertificate == nil || byCertificate == byToken else { return nil }
        return byToken
    }

    /// The node for an `Authorization` header, or nil when it must be refused.
    func node(authorization: String?) -> String? {
        guard let authorization else { return anonymousNode }
        guard let presented = BearerToken.presented(in: authorization) else { return nil }
        return tokens.owner(of: presented)
    }
}
