import Crypto

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

/// Owners found by the token they present, at one lookup's cost however many there are (a
/// fleet's 10,000 node tokens compared one by one would cost every push a few hundred
/// microseconds), and telling nothing through timing: a token is looked up by its SHA-256 (two
/// digests that begin alike say nothing of the tokens), then compared in full.
public struct BearerTokenTable<Owner: Sendable>: Sendable {
    struct Entry: Sendable {
        let token: [UInt8]
        let owner: Owner
    }

    private let entries: [SHA256Digest: Entry]

    /// Of two owners of one token, the later one wins.
    public init(_ owners: some Sequence<(token: [UInt8], owner: Owner)>) {
        entries = Dictionary(owners.map { (SHA256.hash(data: $0.token), Entry(token: $0.token, owner: $0.owner)) }) { _, later in later }
    }

    public func owner(of presented: [UInt8]) -> Owner? {
        guard let entry = entries[SHA256.hash(data: presented)], BearerToken.constantTimeEqual(presented, entry.token) else { return nil }
        return entry.owner
    }
}

extension BearerTokenTable.Entry: Equatable where Owner: Equatable {}
extension BearerTokenTable: Equatable where Owner: Equatable {}
