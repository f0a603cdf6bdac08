import ArgumentParser
import AsyncHTTPClient
import Foundation
import TokenWattAPI
import TokenWattService

/// GETs the aggregator's JSON API: the `data` of a success, or a message and exit status 1.
enum APIClient {
    /// Characters a query value keeps as they are (RFC 3986's unreserved); everything else,
    /// `+` and `:` of an RFC 3339 offset included, is percent-encoded.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// `base` + `path` with the query parameters encoded.
    static func url(_ base: String, _ path: String, query: [(String, String)]) -> String {
        let encoded = query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: unreserved) ?? $0.1)" }
        return base + path + (encoded.isEmpty ? "" : "?" + encoded.joined(separator: "&"))
    }

    /// The `data` of a success, decoded as `Body`.
    static func get<Body: Decodable & Sendable>(_ url: String, _ options: AggregatorOptions, as body: Body.Type) async throws -> Body {
        let data = try await fetch(url, options)
        do {
            return try APIJSON.decoder().decode(APISuccess<Body>.self, from: data).data
        } catch {
            FileHandle.standardError.write(Data("tokenwatt: \(url) answered JSON this version does not read: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The body of a success; a message and exit status 1 for anything else.
    private static func fetch(_ url: String, _ options: AggregatorOptions) async throws -> Data {
        let client: HTTPClient
        do {
            client = try options.tls.map(OutboundClient.makeHTTPClient(tls:)) ?? OutboundClient.makeHTTPClient()
        } catch {
            FileHandle.standardError.write(Data("tokenwatt: --ca-file: \(error)\n".utf8))
            throw ExitCode(2)
        }
        defer { _ = client.shutdown() }
        var request = HTTPClientRequest(url: url)
        if let token = try options.token() { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let body: Data
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            body = Data(buffer: try await response.body.collect(upTo: 64 << 20))
        } catch {
            FileHandle.standardError.write(Data("tokenwatt: cannot reach \(url): \(error)\n".utf8))
            throw ExitCode(1)
        }
        guard let status = try? APIJSON.decoder().decode(APIStatus.self, from: body) else {
            FileHandle.standardError.write(Data("tokenwatt: \(url) did not answer JSON\n".utf8))
            throw ExitCode(1)
        }
        guard status.status == "success" else {
            FileHandle.standardError.write(Data("tokenwatt: \(status.error ?? "the aggregator refused the request")\n".utf8))
            throw ExitCode(1)
        }
        return body
    }
}
