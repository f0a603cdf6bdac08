import AsyncHTTPClient
import Foundation
import TokenWattConfiguration
import TokenWattCore
import TokenWattSender
import TokenWattService

/// Reads an inference server's Prometheus metrics and recognises its kind; shared by the
/// collector and by discovery.
enum InferenceEndpoint {
    /// Metrics bigger than this are refused: the largest servers expose a few hundred KB, and a
    /// broken or hostile one must not fill the agent's memory or hold a core.
    static let maxBodyBytes = 8 << 20
    /// Samples taken from one page at most (the same reason).
    static let maxSamples = 50_000

    /// The parsed samples and dialect at the first path that answers with metrics of a known
    /// server (of `kind` when given).
    static func read(client: HTTPClient, base: String, paths: [String], kind: InferenceServerKind?,
                     timeout: Duration) async throws(CollectorError) -> (samples: [ExpositionSample], dialect: InferenceDialect, path: String) {
        var reasons: [String] = []
        for path in paths {
            do {
                let (contentType, body) = try await get(client: client, url: base + path, timeout: timeout,
                                                        accept: "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5")
                let format: ExpositionFormat = contentType.hasPrefix("application/openmetrics-text") ? .openMetrics : .prometheusText
                let samples = try ExpositionParser(format: format, maxSamples: maxSamples).parse(bytes: body).flatMap(\.samples)
                guard let dialect = kind.map(InferenceDialect.of) ?? InferenceDialect.recognise(samples) else {
                    reasons.append("\(base + path): no metrics of a known inference server")
                    continue
                }
                return (samples, dialect, path)
            } catch let error as CoreError {
                reasons.append("\(base + path): not Prometheus metrics: \(error)")
            } catch let error as CollectorError {
                if case .failed(let reason) = error { reasons.append(reason) }
            } catch {
                reasons.append("\(base + path): \(error)")
            }
        }
        throw .failed(reasons.joined(separator: "; "))
    }

    /// The first model `/v1/models` names (the OpenAI-compatible model list), if it answers.
    static func servedModel(client: HTTPClient, base: String, timeout: Duration) async -> String? {
        guard let (_, body) = try? await get(client: client, url: base + "/v1/models", timeout: timeout, accept: "application/json"),
              let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let models = object["data"] as? [[String: Any]], let id = models.first?["id"] as? String, !id.isEmpty else { return nil }
        return id
    }

    /// The content type and body of a 200 answer, read whole within `timeout`; anything else
    /// is a failure naming the URL.
    static func get(client: HTTPClient, url: String, timeout: Duration, accept: String) async throws(CollectorError) -> (String, [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: accept)
        request.headers.add(name: "User-Agent", value: "tokenwatt-agent")
        let answer: OutboundClient.Answer
        do {
            answer = try await OutboundClient(http: client).exchange(request, timeout: timeout, maxAnswerBytes: maxBodyBytes)
        } catch is OutboundClient.TimedOut {
            throw .failed("\(url) did not answer in full within \(timeout)")
        } catch {
            throw .failed("cannot reach \(url): \(error)")
        }
        guard answer.status == 200 else { throw .failed("\(url) answered \(answer.status)") }
        guard !answer.truncated else { throw .failed("\(url) sent more than \(maxBodyBytes >> 20) MiB of metrics") }
        return (answer.headers.first(name: "Content-Type") ?? "", answer.body)
    }
}
