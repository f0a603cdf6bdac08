import Testing
import TokenWattService

@Suite struct BearerTokenTests {
    /// An `Authorization` header and the token it presents (nil: none).
    static let table: [(String, String?)] = [
        ("Bearer s3cret", "s3cret"), ("bearer s3cret", "s3cret"), ("BEARER s3cret", "s3cret"), ("bEaReR s3cret", "s3cret"),
        ("Bearer   s3cret", "s3cret"), ("Bearer s3cret ", "s3cret "),
        ("Bearer ", nil), ("Bearer    ", nil), ("Bearers3cret", nil), ("Basic czNjcmV0", nil), ("s3cret", nil), ("", nil),
        ("Bearer\ts3cret", nil), ("Béarer s3cret", nil),
    ]

    @Test(arguments: table) func theSchemeIsCaseInsensitive(header: String, token: String?) {
        #expect(BearerToken.presented(in: header) == token.map { Array($0.utf8) })
    }

    @Test func tokensCompareInFull() {
        #expect(BearerToken.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!BearerToken.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!BearerToken.constantTimeEqual(Array("abd".utf8), Array("abc".utf8)))
        #expect(!BearerToken.constantTimeEqual([], Array("a".utf8)))
    }

    /// A fleet's node tokens: each finds its owner, and nothing else finds one (a prefix, a
    /// longer token, a wrong byte, nothing); of two owners of one token, the later.
    @Test func aTableFindsEachTokensOwnerAndNoOther() {
        let owners = (0..<10_000).map { (token: Array("node-token-\($0)-9f3c".utf8), owner: "node-\($0)") }
        let table = BearerTokenTable(owners + [(token: Array("node-token-7-9f3c".utf8), owner: "later")])
        #expect(owners.indices.allSatisfy { $0 == 7 || table.owner(of: owners[$0].token) == owners[$0].owner })
        #expect(table.owner(of: Array("node-token-7-9f3c".utf8)) == "later")
        for presented in ["node-token-1-9f3", "node-token-1-9f3cc", "node-token-1-9f3d", "", "node-token-1-9F3C"] {
            #expect(table.owner(of: Array(presented.utf8)) == nil, "\(presented)")
        }
    }
}
