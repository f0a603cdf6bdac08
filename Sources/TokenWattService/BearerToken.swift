/// `Authorization: Bearer <token>` checking shared by both daemons.
public enum BearerToken {
    /// The token of an `Authorization` header, or nil when it is not a bearer token.
    public static func presented(in authorization: String) -> [UInt8]? {
        guard authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else { return nil }
        return Array(authorization.dropFirst(7).utf8)
    }

    /// Compares in full, so timing tells nothing about how much of a token matched.
    public static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0 && lhs.count == rhs.count
    }
}
