import TokenWattConfiguration
import TokenWattCore
import TokenWattStore

/// What was measured on the fleet in one hour (counter increases), and the ledger rows it
/// makes: the formulas of cost per token, kept apart from the store so they can be checked
/// against hand-computed numbers.
struct HourCosts {
    /// One node's energy counters over the hour, in joules; nil where it has no such counter.
    struct Energy {
        var bmc: Double?
        var gpu: Double?
        /// RAPL packages and DRAM (core and uncore are inside a package).
        var packages: Double?
        /// RAPL's platform zone, which holds the packages: used only where there are none.
        var psys: Double?

        /// CPU seconds over the hour, all CPUs together: busy (all modes but `CPUModes.idle`,
        /// as the agent's utilisation counts them) and all; every agent reports them.
        var cpuBusySeconds = 0.0
        var cpuSeconds = 0.0

        /// Adds a counter's increase: `name` is one of `CostEngine.energyMetrics` or its presence metric.
        mutating func add(_ increase: Double, of name: String, labels: LabelSet) {
            switch name {
            case MetricDescriptor.nodeEnergyJoules.seriesName:
                bmc = (bmc ?? 0) + increase
            case MetricDescriptor.gpuEnergyJoules.seriesName:
                gpu = (gpu ?? 0) + increase
            case MetricDescriptor.cpuEnergyJoules.seriesName:
                // Packages and DRAM; core and uncore are inside a package, and psys holds them all.
                let zone = labels["zone"] ?? ""
                if zone == "psys" {
                    psys = (psys ?? 0) + increase
                } else if !zone.contains("/") || zone.hasSuffix("/dram") {
                    packages = (packages ?? 0) + increase
                }
            case CostEngine.presenceMetric:
                cpuSeconds += increase
                if !CPUModes.idle.contains(labels["mode"] ?? "") { cpuBusySeconds += increase }
            default:
                break
            }
        }

        /// The node's joules and where they came from: the BMC's whole-node reading when there
        /// is one, else GPUs and CPUs added up; never both. The CPUs are RAPL's packages and
        /// DRAM (`rapl`), or its platform zone where that is the only one (`psys`), never both.
        /// Without any measured source, the CPUs' power is `estimated` from their utilisation
        /// with `power` (a vCPU draws its idle watts, plus up to the rest of its maximum as it
        /// gets busy); never where something was measured.
        func joules(estimating power: Pricing.PowerModel) -> (joules: Double, source: String) {
            if let bmc { return (bmc, HourCosts.bmcSource) }
            let cpu = packages.map { ($0, "rapl") } ?? psys.map { ($0, "psys") }
            switch (gpu, cpu) {
            case let (gpu?, cpu?): return (gpu + cpu.0, HourCosts.gpuSource + "+" + cpu.1)
            case let (gpu?, nil): return (gpu, HourCosts.gpuSource)
            case let (nil, cpu?): return cpu
            case (nil, nil):
                guard cpuSeconds > 0 else { return (0, HourCosts.noSource) }
                return (power.idleWattsPerVCPU * cpuSeconds + (power.maxWattsPerVCPU - power.idleWattsPerVCPU) * cpuBusySeconds,
                        HourCosts.estimatedSource)
            }
        }
    }

    /// One token stream: tokens of one source, provider and model on one node.
    struct Stream: Hashable {
        var node: String
        var source: String
        var provider: String
        var model: String
        var labels: [String: String]

        var kind: StreamKind { StreamKind(source: source) }
    }

    /// The energy sources of a node measured whole by its BMC, and by its GPUs alone (the fleet's
    /// power gauges name theirs alike).
    static let bmcSource = "bmc", gpuSource = "gpu"
    /// The energy source of a node whose joules were estimated, not measured.
    static let estimatedSource = "estimated"
    /// The energy source of a node with neither an energy counter nor CPU seconds.
    static let noSource = "none"

    /// The start of the hour (ms) and the part of it measured (1 for a whole hour, less for the
    /// hour in progress: capex and overhead accrue with time).
    var hour: Int64
    var fraction = 1.0
    /// Nodes heard from in the hour, with their energy.
    var nodes: [String: Energy] = [:]
    /// Tokens (by `type`) and requests of each stream.
    var tokens: [Stream: [String: Double]] = [:]
    var requests: [Stream: Double] = [:]
    /// Joules a what-if adds to (or, negative, takes from) a node's measured energy.
    var joulesChange: [String: Double] = [:]
    /// Each node's GPU energy by consumer (`tokenwatt_gpu_consumer_energy_joules_total`): an
    /// inference server's address, a pod, a container, `idle`, `unattributed`.
    var gpuConsumers: [String: [String: Double]] = [:]
    /// Each stream's tokens (input and output) by the inference server that counted them.
    var serverTokens: [Stream: [String: Double]] = [:]

    /// The hour's ledger rows under `pricing`; `labels` gives a node's labels for its class.
    func ledger(pricing: Pricing, labels: (String) -> [String: String]) -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) {
        var attributed = self
        attributed.attributeGatewayTokens()
        return attributed.rows(pricing: pricing, labels: labels)
    }

    /// The gateway counts the tokens of its local routes by caller; the inference servers
    /// count the same tokens by model, on the nodes that ran them. Each model's local tokens
    /// of the hour are shared out: the gateway's share of them (its tokens over the servers',
    /// at most all) moves from each server stream to the callers in proportion, keeping the
    /// server stream's node, provider and token types, so no token is counted twice and every
    /// token keeps the cost of the node that ran it. Gateway tokens beyond what the servers
    /// counted (a server no agent scrapes, or an hour's edge) stay on the gateway's node.
    mutating func attributeGatewayTokens() {
        func total(_ counts: [String: Double]) -> Double { (counts[TokenType.input.rawValue] ?? 0) + (counts[TokenType.output.rawValue] ?? 0) }
        let gatewayStreams = tokens.keys.filter { $0.source == TokenSource.gatewayLocal }
        var shared: Set<Stream> = []
        for model in Set(gatewayStreams.map(\.model)) {
            let callers = gatewayStreams.filter { $0.model == model }
            let servers = tokens.keys.filter { $0.model == model && $0.kind == .inferenceServer }
            let gatewayTotal = callers.reduce(0) { $0 + total(tokens[$1] ?? [:]) }
            let serverTotal = servers.reduce(0) { $0 + total(tokens[$1] ?? [:]) }
            guard gatewayTotal > 0, serverTotal > 0 else { continue }
            shared.formUnion(servers + callers)
            let share = min(1, gatewayTotal / serverTotal)  // of the servers' tokens, to the callers
            let carved = min(gatewayTotal, serverTotal) / gatewayTotal  // of the callers' tokens, found on servers
            var moved: [Stream: [String: Double]] = [:]
            var movedServerTokens: [Stream: [String: Double]] = [:]
            var movedRequests: [Stream: Double] = [:]
            for server in servers {
                let counts = tokens[server] ?? [:]
                let byServer = serverTokens[server] ?? [:]
                let serverShare = total(counts) / serverTotal
                for caller in callers {
                    let weight = total(tokens[caller] ?? [:]) / gatewayTotal
                    let stream = Stream(node: server.node, source: TokenSource.gatewayLocal, provider: server.provider, model: model,
                                        labels: server.labels.merging(caller.labels) { $1 })
                    for (type, count) in counts { moved[stream, default: [:]][type, default: 0] += count * share * weight }
                    for (address, count) in byServer { movedServerTokens[stream, default: [:]][address, default: 0] += count * share * weight }
                    movedRequests[stream, default: 0] += (requests[caller] ?? 0) * carved * serverShare
                }
                tokens[server] = counts.mapValues { $0 * (1 - share) }
                if !byServer.isEmpty { serverTokens[server] = byServer.mapValues { $0 * (1 - share) } }
                if let count = requests[server] { requests[server] = count * (1 - share) }
            }
            for caller in callers {
                tokens[caller] = tokens[caller]?.mapValues { $0 * (1 - carved) }
                if let count = requests[caller] { requests[caller] = count * (1 - carved) }
            }
            for (stream, counts) in moved { tokens[stream] = (tokens[stream] ?? [:]).merging(counts, uniquingKeysWith: +) }
            for (stream, counts) in movedServerTokens { serverTokens[stream] = (serverTokens[stream] ?? [:]).merging(counts, uniquingKeysWith: +) }
            for (stream, count) in movedRequests { requests[stream, default: 0] += count }
        }
        // Streams emptied by the share-out leave no row.
        for stream in shared where (tokens[stream] ?? [:]).values.allSatisfy({ $0 < 1e-9 }) && (requests[stream] ?? 0) < 1e-9 {
            tokens[stream] = nil
            requests[stream] = nil
        }
    }

    private func rows(pricing: Pricing, labels: (String) -> [String: String]) -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) {
        var nodeRows: [String: LedgerNodeHour] = [:]
        let kWhPrice = pricing.electricity.price.value(atHour: hour) * pricing.electricity.pue
        // Grams per kWh of IT energy: the facility's overhead (PUE) draws from the grid too.
        let kWhEmissions = pricing.carbon.map { $0.intensity.value(atHour: hour) * pricing.electricity.pue }
        for (node, energy) in nodes {
            let nodeClass = pricing.nodeClass(for: labels(node))
            let (measured, source) = energy.joules(estimating: nodeClass?.power ?? Pricing.PowerModel())
            let joules = max(0, measured + (joulesChange[node] ?? 0))
            var row = LedgerNodeHour(hour: hour, node: node, energySource: source, joules: joules,
                                     energyCost: joules / 3.6e6 * kWhPrice,
                                     capexCost: (nodeClass?.capex(atHour: hour) ?? 0) * fraction,
                                     overheadCost: (nodeClass?.overheadPerHour ?? 0) * fraction)
            if let kWhEmissions {
                row.operationalGCO2e = joules / 3.6e6 * kWhEmissions
                row.embodiedGCO2e = (nodeClass?.embodied(atHour: hour) ?? 0) * fraction
            }
            nodeRows[node] = row
        }
        var streams: [LedgerUsageHour] = []
        let keys = Array(Set(tokens.keys).union(requests.keys))
        for stream in keys {
            var row = LedgerUsageHour(hour: hour, node: stream.node, source: stream.source, provider: stream.provider,
                                      model: stream.model, labels: stream.labels)
            let counts = tokens[stream] ?? [:]
            row.input = counts[TokenType.input.rawValue] ?? 0
            row.cachedInput = min(counts[TokenType.cachedInput.rawValue] ?? 0, row.input)
            row.output = counts[TokenType.output.rawValue] ?? 0
            row.reasoning = min(counts[TokenType.reasoning.rawValue] ?? 0, row.output)
            row.requests = requests[stream] ?? 0
            // Without a price the money is unknown: the row says so rather than counting 0 as a price.
            let price = stream.kind.isCloudSpend ? pricing.cloudPrice(of: stream.model, atHour: hour) : pricing.shadowPrice(of: stream.model, atHour: hour)
            let priced = price?.cost(input: row.input, cachedInput: row.cachedInput, output: row.output)
            row.priced = price != nil
            if stream.kind.isCloudSpend { row.cost = priced ?? 0 } else { row.cloudEquivalent = priced ?? 0 }
            streams.append(row)
        }
        // A node's cost and emissions go to its local streams by their share of its tokens;
        // with no local tokens they stay the node's idle cost. Where the node's GPUs were shared,
        // the GPU energy each inference server drew goes to that server's tokens first.
        let idleHours = IdleHours(streams)
        var serverTokensByNode: [String: [String: Double]] = [:]
        for (stream, counts) in serverTokens where gpuConsumers[stream.node] != nil && !stream.kind.isCloudSpend {
            serverTokensByNode[stream.node, default: [:]].merge(counts, uniquingKeysWith: +)
        }
        let direct = Dictionary(uniqueKeysWithValues: nodeRows.map { node, row in
            (node, gpuShares(of: node, row: row, serverTokens: serverTokensByNode[node] ?? [:], kWhPrice: kWhPrice, kWhEmissions: kWhEmissions))
        })
        for index in streams.indices where !StreamKind.isCloudSpend(streams[index].source) {
            let node = streams[index].node
            guard !idleHours.isIdle(node: node, hour: hour), let nodeRow = nodeRows[node] else { continue }
            let total = idleHours.localTokens(node: node, hour: hour)
            let shares = direct[node] ?? []
            let own = shares.reduce((cost: 0.0, gco2e: 0.0)) { sum, share in
                let part = (serverTokens[keys[index]]?[share.server] ?? 0) / share.tokens
                return (sum.cost + share.cost * part, sum.gco2e + share.gco2e * part)
            }
            let rest = (cost: nodeRow.cost - shares.reduce(0) { $0 + $1.cost }, gco2e: nodeRow.gco2e - shares.reduce(0) { $0 + $1.gco2e })
            streams[index].gpuShareCost = own.cost
            streams[index].cost = own.cost + rest.cost * streams[index].tokens / total
            streams[index].gco2e = own.gco2e + rest.gco2e * streams[index].tokens / total
        }
        return (nodeRows.values.sorted { $0.node < $1.node }, streams)
    }

    /// The GPU energy each inference server with tokens on the node (`tokensByServer`) drew, in
    /// money and grams, with the server's tokens. Never more than the node's energy cost (a
    /// what-if that takes energy away scales them down); idle, unattributed and other
    /// consumers' energy stays with the node, shared by all its tokens.
    private func gpuShares(of node: String, row: LedgerNodeHour, serverTokens tokensByServer: [String: Double], kWhPrice: Double, kWhEmissions: Double?)
        -> [(server: String, tokens: Double, cost: Double, gco2e: Double)] {
        guard let consumers = gpuConsumers[node] else { return [] }
        let servers = consumers.filter { (tokensByServer[$0.key] ?? 0) > 0 && $0.value > 0 }
        let joules = servers.values.reduce(0, +)
        guard joules > 0 else { return [] }
        let scale = min(1, row.joules / joules)
        return servers.keys.sorted().map { server in
            let kWh = servers[server]! * scale / 3.6e6
            return (server, tokensByServer[server]!, kWh * kWhPrice, kWh * (kWhEmissions ?? 0))
        }
    }
}

extension LedgerNodeHour {
    /// Its energy was estimated from CPU utilisation (no sensor), not measured.
    var energyIsEstimated: Bool { energySource == HourCosts.estimatedSource }
}
