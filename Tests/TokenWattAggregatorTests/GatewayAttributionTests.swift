import Testing
import TokenWattCore
@testable import TokenWattAggregator
@testable import TokenWattConfiguration

/// The gateway counts its local routes' tokens by caller; the inference servers count the same
/// tokens by model. The ledger shares each model's server tokens out to the callers, so none
/// is counted twice and each keeps the cost of the node that ran it.
@Suite struct GatewayAttributionTests {
    typealias Stream = HourCosts.Stream
    static let vllmA = Stream(node: "gpu-a", source: "vllm", provider: "local", model: "llama", labels: [:])
    static let vllmB = Stream(node: "gpu-b", source: "vllm", provider: "local", model: "llama", labels: [:])
    static func caller(_ team: String) -> Stream {
        Stream(node: "edge", source: TokenSource.gatewayLocal, provider: "local", model: "llama", labels: ["team": team])
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var servers: [Stream: [String: Double]]
        var callers: [String: [String: Double]]
        /// Tokens (input + output) by node and team ("" for what stays the server's own).
        var expected: [String: Double]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "the gateway sent all of one server's tokens",
             servers: [vllmA: ["input": 800, "output": 200]], callers: ["research": ["input": 600, "output": 150], "ops": ["input": 200, "output": 50]],
             expected: ["gpu-a/research": 750, "gpu-a/ops": 250]),
        Case(name: "the gateway sent part; the rest stays the server's own",
             servers: [vllmA: ["input": 800, "output": 200]], callers: ["research": ["input": 200, "output": 50]],
             expected: ["gpu-a/": 750, "gpu-a/research": 250]),
        Case(name: "two servers share each caller's tokens by their own share",
             servers: [vllmA: ["input": 300, "output": 100], vllmB: ["input": 500, "output": 100]], callers: ["research": ["input": 400, "output": 100]],
             expected: ["gpu-a/": 200, "gpu-a/research": 200, "gpu-b/": 300, "gpu-b/research": 300]),
        Case(name: "the gateway counted more than the servers: the excess stays on the gateway's node",
             servers: [vllmA: ["input": 80, "output": 20]], callers: ["research": ["input": 120, "output": 30]],
             expected: ["gpu-a/research": 100, "edge/research": 50]),
        Case(name: "no server counted the model: the gateway's count stands",
             servers: [:], callers: ["research": ["input": 120, "output": 30]],
             expected: ["edge/research": 150]),
    ]

    @Test(arguments: cases)
    func serverTokensAreSharedOutToCallersOnce(_ example: Case) {
        var hour = HourCosts(hour: 0)
        hour.nodes = ["gpu-a": HourCosts.Energy(gpu: 3.6e6), "gpu-b": HourCosts.Energy(gpu: 3.6e6), "edge": HourCosts.Energy(gpu: 0)]
        hour.tokens = example.servers
        for (team, counts) in example.callers { hour.tokens[GatewayAttributionTests.caller(team)] = counts }
        let pricing = try! Pricing.parse(ConfigNode(yaml: "electricity: {price_per_kwh: 1.0, pue: 1.0}", file: "a.yml"))
        let ledger = hour.ledger(pricing: pricing) { _ in [:] }
        var tokens: [String: Double] = [:]
        for row in ledger.usage { tokens["\(row.node)/\(row.labels["team"] ?? "")", default: 0] += row.tokens }
        #expect(tokens.mapValues { ($0 * 1e6).rounded() / 1e6 } == example.expected)
        // Nothing counted twice: every server token is in the ledger once, plus any excess.
        let served = example.servers.values.reduce(0) { $0 + ($1["input"] ?? 0) + ($1["output"] ?? 0) }
        let metered = example.callers.values.reduce(0) { $0 + ($1["input"] ?? 0) + ($1["output"] ?? 0) }
        #expect(abs(ledger.usage.reduce(0) { $0 + $1.tokens } - max(served, metered)) < 1e-6)
        // Each server node's cost (1 kWh at 1.0) goes, all of it, to the rows on that node.
        for node in ["gpu-a", "gpu-b"] where example.servers.keys.contains(where: { $0.node == node }) {
            #expect(abs(ledger.usage.filter { $0.node == node }.reduce(0) { $0 + $1.cost } - 1.0) < 1e-9)
        }
    }
}
