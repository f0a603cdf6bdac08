import AsyncHTTPClient
import Logging
import ServiceLifecycle
import TokenWattConfiguration
import TokenWattCore
import Synchronization
import TokenWattSender

/// Finds inference servers on this node: probes the ports they listen on by default (vLLM,
/// TensorRT-LLM and Dynamo 8000, TGI 3000, llama.cpp 8080, Triton 8002, LMDeploy 23333, SGLang
/// 30000) on loopback, at start and then every few minutes, and adds a collector for each one
/// that answers with the metrics of a known server. A server found once stays: when it goes
/// away its collector reports down, and it is read again when it comes back.
public final class InferenceDiscovery: Service, Sendable {
    private let host: String
    private let ports: [Int]
    private let every: Duration
    private let client: HTTPClient
    private let store: CounterStore?
    private let scheduler: CollectorScheduler
    private let logger: Logger
    /// Addresses already read, configured or found.
    private let known: Mutex<Set<String>>
    /// The node's attribution, which servers found get.
    private let nodeLabels: [String: String]
    /// Where a server found is looked up for its role.
    private let procfs: SystemFiles?

    init(host: String = "127.0.0.1", ports: [Int] = AgentConfiguration.defaultDiscoveryPorts, every: Duration,
         configured: [InferenceServer], nodeLabels: [String: String] = [:], procfs: SystemFiles? = nil, client: HTTPClient, store: CounterStore?,
         scheduler: CollectorScheduler, logger: Logger) {
        self.nodeLabels = nodeLabels
        self.procfs = procfs
        self.host = host
        self.ports = ports
        self.every = every
        self.client = client
        self.store = store
        self.scheduler = scheduler
        self.logger = logger
        known = Mutex(Set(configured.compactMap { $0.parts?.address }))
    }

    /// Probes every port not read yet, at once, and adds a collector for each server found.
    public func probe() async {
        let candidates = known.withLock { known in ports.map { "\(host):\($0)" }.filter { !known.contains($0) } }
        let found = await withTaskGroup(of: InferenceServer?.self) { group in
            for address in candidates {
                group.addTask {
                    let base = "http://\(address)"
                    guard let (_, dialect, path) = try? await InferenceEndpoint.read(client: self.client, base: base, paths: ["/metrics", "/prometheus/metrics"],
                                                                                     kind: nil, timeout: .seconds(1)) else { return nil }
                    let configuredPath = path == dialect.metricsPath ? "" : path
                    return InferenceServer(url: base + configuredPath, kind: dialect.kind)
                }
            }
            return await group.reduce(into: []) { found, server in server.map { found.append($0) } }
        }
        for server in found {
            guard let address = server.parts?.address, known.withLock({ $0.insert(address).inserted }),
                  let collector = InferenceCollector(server: server, client: client, store: store, nodeLabels: nodeLabels, procfs: procfs) else { continue }
            logger.info("found an inference server", metadata: ["url": "\(server.url)", "kind": "\(server.kind?.rawValue ?? "?")"])
            scheduler.add(collector)
        }
    }

    /// Probes again every few minutes until a graceful shutdown.
    public func run() async throws {
        await PeriodicWork.run(every: every, waitFirst: true) { await probe() }
    }
}
