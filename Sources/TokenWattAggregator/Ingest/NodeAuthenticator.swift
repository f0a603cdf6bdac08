import TokenWattService

/// Maps a push's bearer token to the node it belongs to.
struct NodeAuthenticator: Sendable {
    private let credentials: [(token: [UInt8], node: String)]
    private let anonymousNode: String?

    init(nodes: [NodeCredential], anonymousNode: String?) {
        credentials = nodes.map { (Array($0.token.utf8), $0.name) }
        self.anonymousNode = anonymousNode
    }

    /// The node for an `Authorization` header, or nil when it must be refused.
    func node(authorization: String?) -> String? {
        guard let authorization else { return anonymousNode }
        guard let presented = BearerToken.presented(in: authorization) else { return nil }
        // Every token is compared in full, so timing tells nothing about which one nearly matched.
        var match: String?
        for credential in credentials where BearerToken.constantTimeEqual(presented, credential.token) {
            match = credential.node
        }
        return match
    }
}
