import AsyncHTTPClient
import Foundation
import Synchronization
import TokenWattConfiguration
import TokenWattCore
import TokenWattSender

/// Tokens and requests of one inference server (vLLM, SGLang, TGI, llama.cpp, LMDeploy,
/// TensorRT-LLM, Triton, Dynamo), read from its Prometheus metrics and normalised into
/// `tokenwatt_tokens_total{model, type, source, server}`, `tokenwatt_requests_total` and
/// `tokenwatt_inference_requests_running|waiting` and `tokenwatt_inference_kv_cache_usage_ratio`,
/// with the labels of their `Attribution`.
///
/// Every raw counter is tracked on its own (one per data-parallel engine, finish reason, ...):
/// a drop is a server restart, so the agent's counters only grow, and a raw series that goes
/// away keeps its count in the sum. The tracking state is saved in the `CounterStore`, so a
/// restart of the agent neither re-counts nor forgets. A server that does not answer makes
/// the collector fail; nothing is reported for it until it is back.
final class InferenceCollector: Collector {
    let name: String
    let interval: Duration?
    let timeout: Duration = .seconds(5)
    let server: InferenceServer
    private let base: String
    private let path: String?
    private let address: String
    private let client: HTTPClient
    private let store: CounterStore?
    /// Where a server without a configured role is looked up by its port, for its flags.
    private let procfs: SystemFiles?
    /// The node's default attribution, under the server's own.
    private let nodeLabels: [String: String]
    private let state: Mutex<State>

    private struct State {
        var dialect: InferenceDialect?
        var counters: [String: CounterStore.Entry]?
        var servedModel: String?
        var lastModelQuery: ContinuousClock.Instant?
        var discoveredRole: InferenceRole?
        var lastRoleLookup: ContinuousClock.Instant?
    }

    /// How often a server's flags are read again for its role (a restart may change them).
    static let roleLookupEvery: Duration = .seconds(600)

    /// What prompt tokens that are not input (`Figure.notInput`) are tracked as: saved with the
    /// counters under the labels of the input series they come off, never exported.
    static let notInput = "prompt_tokens_not_input"

    /// How long a `/v1/models` answer is awaited, and how often it is asked again while it fails.
    static let modelQueryTimeout: Duration = .seconds(2)
    static let modelQueryEvery: Duration = .seconds(60)
    /// The model of tokens no label, config or `/v1/models` names.
    static let unknownModel = "unknown"

    init?(server: InferenceServer, client: HTTPClient, store: CounterStore?, nodeLabels: [String: String] = [:], procfs: SystemFiles? = nil) {
        guard let parts = server.parts else { return nil }
        self.server = server
        (base, path, address) = parts
        name = inferenceCollectorPrefix + parts.address
        interval = server.intervalMs.map { .milliseconds($0) }
        self.client = client
        self.store = store
        self.procfs = procfs
        self.nodeLabels = nodeLabels
        state = Mutex(State(dialect: server.kind.map(InferenceDialect.of)))
    }

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        let known = state.withLock { $0.dialect }
        let paths = path.map { [$0] } ?? known.map { [$0.metricsPath] } ?? ["/metrics", "/prometheus/metrics"]
        let (samples, dialect, _) = try await InferenceEndpoint.read(client: client, base: base, paths: paths, kind: known?.kind,
                                                                     timeout: timeout * 0.8)
        let role = self.role()
        let matched = InferenceCollector.match(samples, dialect, role: role)
        var fallbackModel = server.model ?? InferenceCollector.unknownModel
        if server.model == nil, matched.contains(where: { InferenceCollector.model(of: $0.sample, dialect) == nil }) {
            fallbackModel = await servedModel() ?? fallbackModel
        }
        return try state.withLock { state throws(CollectorError) in
            state.dialect = dialect
            return try record(matched, dialect: dialect, role: role, fallbackModel: fallbackModel, state: &state)
        }
    }

    /// Each sample that carries one of the dialect's figures, from the first of the figure's
    /// names that is present.
    static func match(_ samples: [ExpositionSample], _ dialect: InferenceDialect,
                      role: InferenceRole = .both) -> [(figure: InferenceDialect.Figure, sample: ExpositionSample)] {
        dialect.figures.flatMap { figure, sources -> [(figure: InferenceDialect.Figure, sample: ExpositionSample)] in
            guard figure.isCounted(by: role) else { return [] }
            for source in sources {
                let found = samples.filter { source.matches($0) && $0.value.isFinite }
                if !found.isEmpty { return found.map { (figure, $0) } }
            }
            return []
        }
    }

    static func model(of sample: ExpositionSample, _ dialect: InferenceDialect) -> String? {
        for name in dialect.modelLabels {
            if let value = sample.labels.first(where: { $0.name == name })?.value, !value.isEmpty { return value }
        }
        return nil
    }

    private func record(_ matched: [(figure: InferenceDialect.Figure, sample: ExpositionSample)], dialect: InferenceDialect,
                        role: InferenceRole, fallbackModel: String, state: inout State) throws(CollectorError) -> [ExpositionSample] {
        var counters: [String: CounterStore.Entry]
        do {
            counters = try state.counters ?? store?.load(scope: name) ?? [:]
        } catch {
            throw .failed("cannot read the saved counters: \(error)")
        }
        var touched: [String: CounterStore.Entry] = [:]
        var gauges: [ExpositionSample: Double] = [:]
        for (figure, sample) in matched {
            // A raw series is tracked under its own text; one that feeds a second figure (SGLang's
            // cached prompt tokens are input too) is tracked again under the figure's series.
            func track(into series: ExpositionSample) {
                var key = sample.seriesText
                if let earlier = touched[key], earlier.series != series { key = series.seriesText + " from " + key }
                var counter = counters[key]?.counter ?? MonotonicCounter()
                counter.add(sample.value, restartsAtZero: true)
                touched[key] = CounterStore.Entry(series: series, counter: counter)
            }
            let model = InferenceCollector.model(of: sample, dialect) ?? fallbackModel
            let attributed = server.attribution.labels(of: model, nodeDefaults: nodeLabels).map { Label($0.key, $0.value) }
            // A pool's servers say which they are, so reports can split a model's cost by phase.
            let pool = role == .both ? [] : [Label("role", role.rawValue)]
            let labels = ([Label("model", model), Label("server", address), Label("source", dialect.kind.rawValue)] + pool + attributed)
                .sorted { $0.name < $1.name }
            switch figure {
            case .tokens(let type):
                track(into: MetricDescriptor.tokens.sample(labels + [Label("type", type.rawValue)], 0))
            case .notInput:
                let input = MetricDescriptor.tokens.sample(labels + [Label("type", TokenType.input.rawValue)], 0)
                track(into: ExpositionSample(name: InferenceCollector.notInput, labels: input.labels, value: 0))
            case .requests:
                track(into: MetricDescriptor.requests.sample(labels, 0))
            case .running:
                gauges[MetricDescriptor.inferenceRequestsRunning.sample(labels, 0), default: 0] += sample.value
            case .waiting:
                gauges[MetricDescriptor.inferenceRequestsWaiting.sample(labels, 0), default: 0] += sample.value
            case .kvCacheUsage:
                // A ratio: the fullest engine's, not a sum.
                let series = MetricDescriptor.inferenceKVCacheUsageRatio.sample(labels, 0)
                gauges[series] = max(gauges[series] ?? 0, sample.value)
            }
        }
        do {
            try store?.save(scope: name, touched)
        } catch {
            throw .failed("cannot save the counters: \(error)")
        }
        counters.merge(touched) { _, new in new }
        state.counters = counters
        // Sums per exported series, raw series that went away included.
        var totals: [ExpositionSample: Double] = [:]
        for entry in counters.values where entry.series.name != InferenceCollector.notInput {
            totals[entry.series, default: 0] += entry.counter.total ?? 0
        }
        // Prompt tokens that were not input come off the input they were counted in (the
        // server counts them there too, so the difference never falls below 0 but by rounding).
        for entry in counters.values where entry.series.name == InferenceCollector.notInput {
            let input = MetricDescriptor.tokens.sample(entry.series.labels, 0)
            totals[input] = max(0, (totals[input] ?? 0) - (entry.counter.total ?? 0))
        }
        return (totals.merging(gauges) { $1 }).map { series, value in
            ExpositionSample(name: series.name, labels: series.labels, value: value)
        }.sorted { $0.seriesText < $1.seriesText }
    }

    /// The configured role; without one, what the flags of the process listening on the
    /// server's port say (read every ten minutes), else `both`.
    private func role() -> InferenceRole {
        if let role = server.role { return role }
        guard let procfs, let port = address.split(separator: ":").last.flatMap({ Int($0) }) else { return .both }
        let clock = ContinuousClock()
        let due = state.withLock { state -> Bool in
            guard state.lastRoleLookup.map({ $0.duration(to: clock.now) >= InferenceCollector.roleLookupEvery }) ?? true else { return false }
            state.lastRoleLookup = clock.now
            return true
        }
        if due {
            let found = ProcessOwner.commandLine(listeningOn: port, procfs: procfs).flatMap(InferenceRole.init(commandLine:))
            state.withLock { $0.discoveredRole = found }
        }
        return state.withLock { $0.discoveredRole } ?? .both
    }

    /// The model `/v1/models` names, asked at most once a minute until it answers.
    private func servedModel() async -> String? {
        let clock = ContinuousClock()
        let ask = state.withLock { state -> Bool in
            guard state.servedModel == nil else { return false }
            if let last = state.lastModelQuery, last.duration(to: clock.now) < InferenceCollector.modelQueryEvery { return false }
            state.lastModelQuery = clock.now
            return true
        }
        if ask, let model = await InferenceEndpoint.servedModel(client: client, base: base, timeout: InferenceCollector.modelQueryTimeout) {
            state.withLock { $0.servedModel = model }
        }
        return state.withLock { $0.servedModel }
    }
}
