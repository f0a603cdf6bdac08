import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import Testing
import TokenWattCore
@testable import TokenWattService

/// Who may read, as the `web:` mapping says it.
@Suite struct ReadAccessTests {
    static func web(_ yaml: String) throws(CoreError) -> WebConfiguration {
        try WebConfiguration(try ConfigNode(yaml: yaml, file: "test.yml")["web"], environment: ["READER": "env-token"])
    }

    @Test(arguments: [
        // (Authorization, user and password; nil: not Basic)
        ("Basic " + Data("grafana:s3cr:et".utf8).base64EncodedString(), "grafana", "s3cr:et"),
        ("basic   " + Data("u:".utf8).base64EncodedString(), "u", ""),
        ("Basic " + Data("no-colon".utf8).base64EncodedString(), nil, nil),
        ("Basic !!!", nil, nil),
        ("Bearer abc", nil, nil),
    ] as [(String, String?, String?)])
    func basicCredentialsAreDecoded(header: String, user: String?, password: String?) {
        let decoded = ReadAuthenticator.basic(header)
        #expect(decoded?.0 == user && decoded?.1 == password)
    }

    @Test(arguments: [
        // (method, path, unauthenticated_metrics, needs a reader)
        (HTTPRequest.Method.get, "/api/v1/costs", false, true),
        (.head, "/metrics", false, true),
        (.get, "/metrics", false, true),
        (.get, "/metrics", true, false),
        (.get, "/-/healthy", false, false),
        (.get, "/-/ready", false, true),
        (.post, "/api/v1/series", false, true),
        (.post, "/api/v1/write", false, false),
    ] as [(HTTPRequest.Method, String, Bool, Bool)])
    func everyReadButHealthNeedsAReader(method: HTTPRequest.Method, path: String, openMetrics: Bool, needed: Bool) throws {
        var credentials = ReaderCredentials()
        credentials.tokens = [.init(name: "ops", token: "t")]
        credentials.unauthenticatedMetrics = openMetrics
        let middleware = ReadAccessMiddleware<BasicRequestContext>(authenticator: ReadAuthenticator(credentials), readPosts: ["/api/v1/series"])
        let request = Request(head: HTTPRequest(method: method, scheme: "http", authority: "localhost", path: path), body: .init(buffer: ByteBuffer()))
        #expect(middleware.needsReader(request) == needed)
        // No readers listed: reads are open, as before.
        #expect(!ReadAccessMiddleware<BasicRequestContext>(authenticator: ReadAuthenticator(ReaderCredentials())).needsReader(request))
    }

    @Test func readersAreTokensAndUsersWithBcryptHashes() async throws {
        let hash = Bcrypt.hash("right", cost: 4)
        let web = try ReadAccessTests.web("""
            web:
              readers: [{name: ops, token_env: READER}]
              basic_auth_users: {grafana: "\(hash)"}
            """)
        let authenticator = ReadAuthenticator(web.readers)
        let basic = { (password: String) in "Basic " + Data("grafana:\(password)".utf8).base64EncodedString() }
        #expect(await authenticator.reader(authorization: "Bearer env-token") == "ops")
        #expect(await authenticator.reader(authorization: "Bearer env-token2") == nil)
        #expect(await authenticator.reader(authorization: basic("right")) == "grafana")
        #expect(await authenticator.reader(authorization: basic("right")) == "grafana")  // remembered
        #expect(await authenticator.reader(authorization: basic("wrong")) == nil)
        #expect(await authenticator.reader(authorization: nil) == nil)
    }

    @Test(arguments: [
        ("web: {basic_auth_users: {grafana: plaintext}}", "web.basic_auth_users.grafana: a bcrypt hash"),
        ("web: {readers: [{name: ops}]}", "web.readers[0]: token_file or token_env"),
        ("web: {tls_server_config: {cert_file: /nonexistent.crt}}", "web.tls_server_config.key_file: the server key's PEM file"),
        ("web: {tls_server_config: {cert_file: /a, key_file: /b, client_auth_type: RequireAndVerifyClientCert}}",
         "web.tls_server_config.client_ca_file: the CA file"),
        ("web: {tls_server_config: {cert_file: /a, key_file: /b, client_auth_type: Sometimes}}",
         "web.tls_server_config.client_auth_type: one of NoClientCert"),
        ("web: {tls_server_config: {cert_file: /nonexistent.crt, key_file: /nonexistent.key}}",
         "web.tls_server_config: files that load as PEM: cert_file /nonexistent.crt, key_file /nonexistent.key"),
        ("web: {readers_typo: []}", "web.readers_typo: no such key"),
        ("web: {max_connections_per_client: 256}", "web.max_connections_per_client: no such key (now max_unauthenticated_connections_per_client"),
        ("web: {max_connections_per_credential: 0}", "web.max_connections_per_credential: a positive number"),
        ("web: {max_unauthenticated_connections_per_client: -1}", "web.max_unauthenticated_connections_per_client: a positive number"),
    ])
    func aWrongWebMappingNamesItsKey(yaml: String, message: String) {
        #expect { try ReadAccessTests.web(yaml) } throws: { "\($0)".contains(message) }
    }
}
