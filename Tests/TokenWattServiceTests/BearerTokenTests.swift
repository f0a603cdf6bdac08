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
}
