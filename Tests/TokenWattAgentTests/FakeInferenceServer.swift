import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing
import TokenWattTestSupport

/// A stand-in inference server on a loopback port: serves whatever metrics text it is given at
/// its metrics path, optionally JSON at `/metrics` (as `trtllm-serve` does) and a model list
/// at `/v1/models`. It can stop and start again on the same port, like a server that restarts.
final class FakeInferenceServer: Sendable {
    struct Content: Sendable {
        var metrics = ""
        var contentType = "text/plain; version=0.0.4; charset=utf-8"
        var metricsPath = "/metrics"
        var models: [String] = []
        /// Sends the metrics one byte every 100 ms (a server stuck mid-answer).
        var drips = false
    }

    /// Stopping mid-connection makes Hummingbird log errors that say nothing about the test.
    static let quiet: Logger = {
        var logger = Logger(label: "fake-inference-server")
        logger.logLevel = .critical
        return logger
    }()

    let content: Mutex<Content>
    private let running = Mutex<(task: Task<Void, Error>, port: Int)?>(nil)

    init(_ content: Content = Content()) {
        self.content = Mutex(content)
    }

    /// A fixture of `Fixtures/inference/`.
    static func fixture(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/inference/\(name)", withExtension: "prom"))
        return try String(contentsOf: url, encoding: .utf8)
    }

    var port: Int { running.withLock { $0!.port } }
    var url: String { "http://127.0.0.1:\(port)" }

    func set(metrics: String) {
        content.withLock { $0.metrics = metrics }
    }

    /// Starts listening, on `port` when given (the port it had before a restart).
    func start(port requested: Int = 0) async throws {
        let router = Router()
        router.get("**") { request, _ -> Response in
            let content = self.content.withLock { $0 }
            let path = request.uri.path
            if path == content.metricsPath && content.drips {
                return Response(status: .ok, headers: [.contentType: content.contentType], body: ResponseBody { writer in
                    for byte in content.metrics.utf8 {
                        try await writer.write(ByteBuffer(bytes: [byte]))
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    try await writer.finish(nil)
                })
            }
            if path == content.metricsPath {
                return Response(status: .ok, headers: [.contentType: content.contentType],
                                body: .init(byteBuffer: ByteBuffer(string: content.metrics)))
            }
            if path == "/metrics" {
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"[{"gpuMemUsage": 1024, "iter": 7}]"#)))
            }
            if path == "/v1/models", !content.models.isEmpty {
                let list = content.models.map { #"{"id": "\#($0)", "object": "model"}"# }.joined(separator: ",")
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"object": "list", "data": [\#(list)]}"#)))
            }
            return Response(status: .notFound)
        }
        let bound = BoundPort()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: requested)),
                              onServerRunning: bound.onServerRunning, logger: FakeInferenceServer.quiet)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        let port = try await bound.wait()
        running.withLock { $0 = (task, port) }
    }

    /// Stops listening and waits until the port is closed.
    func stop() async {
        guard let (task, _) = running.withLock({ $0 }) else { return }
        task.cancel()
        _ = await task.result
    }
}
