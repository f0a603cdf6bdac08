/// `Authorization: Bearer <token>` checking shared by both daemons.
public enum BearerToken {
    /// The token of an `Authorization` header, or nil when it is not a bearer token. The scheme
    /// is matched without regard to case and may be followed by any run of spaces (RFC 7235).
    public static func presented(in authorization: String) -> [UInt8]? {
        let bytes = Array(authorization.utf8)
        guard bytes.count > 7, String(decoding: bytes[..<6], as: UTF8.self).lowercased() == "bearer", bytes[6] == 0x20 else { return nil }
        let token = bytes[7...].drop { $0 == 0x20 }
        return token.isEmpty ? nil : Array(token)
    }

    /// The owner of a presented token among `owners`, each token compared in full, so that
    /// timing tells nothing about which one nearly matched, or how much of it.
    public static func owner<Owner>(of presented: [UInt8], among owners: [Owner], token: (Owner) -> [UInt8]) -> Owner? {
        var match: Owner?
        for owner in owners where constantTimeEqual(presented, token(owner)) { match = owner }
        return match
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
