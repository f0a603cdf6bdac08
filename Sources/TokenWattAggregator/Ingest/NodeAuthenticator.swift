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
        guard authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else { return nil }
        let presented = Array(authorization.dropFirst(7).utf8)
        // Every token is compared in full, so timing tells nothing about which one nearly matched.
        var match: String?
        for credential in credentials where NodeAuthenticator.constantTimeEqual(presented, credential.token) {
            match = credential.node
        }
        return match
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0 && lhs.count == rhs.count
    }
}
