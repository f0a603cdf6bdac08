import Foundation
import Testing
import TokenWattAPI
import TokenWattCore
import TokenWattStore
@testable import TokenWattAggregator

/// The JSON the API answers, byte for byte, as docs/http-api.md documents it: field names, figures
/// absent where they do not apply, and the numbers JSON cannot hold as Prometheus's strings.
/// A change to a contract type that changes the wire fails here first.
@Suite struct APIGoldenTests {
    static func json(_ value: some Encodable & Sendable) throws -> String {
        String(decoding: try APIJSON.encoder().encode(APISuccess(value)), as: UTF8.self)
    }


    @Test func costsByNodeWithCarbonAndByModelPerHour() throws {
        let ledger = try FOCUSExportTests.ledger()
        let byNode = CostsResponse(from: 0, to: 7_200, by: ["node"], currency: "USD", groups: CostReport(by: ["node"], step: nil, carbon: true, pricing: try FOCUSExportTests.pricing()).rows(ledger))
        let byNodeJSON = try APIGoldenTests.json(byNode)
        #expect(byNodeJSON == #"""
            {"data":{"by":["node"],"currency":"USD","from":0,"groups":[{"cloud_cost_per_million_tokens":0.1825,"cloud_equivalent":0.000465,"cloud_equivalent_by_token_type":{"cached_input":1.5e-05,"input":5e-05,"output":0.0004},"cloud_equivalent_per_million_tokens":0.465,"cloud_spend":0.5475,"components":{"capex":0,"energy":2,"energy_estimated":0,"overhead":0},"cost":2.5475,"cost_by_token_type":{"cached_input":0.6225,"input":0.725,"output":0.2},"cost_per_million_tokens":2000,"energy_sources":["gpu"],"gco2e":0,"gco2e_components":{"embodied":0,"operational":0},"gco2e_per_million_tokens":0,"idle_cost":1,"kwh":2,"kwh_estimated":0,"labels":{"node":"gpu-01"},"on_prem_cost":2,"requests":0,"savings":-1.999535,"tokens":{"cached_input":900600,"input":3000800,"output":200,"reasoning":0},"unpriced_tokens":0}],"to":7200,"total":2.5475},"status":"success"}
            """#)
        let byModel = CostsResponse(from: 0, to: 7_200, by: ["model"], currency: "USD", groups: CostReport(by: ["model"], step: .hour).rows(ledger))
        let byModelJSON = try APIGoldenTests.json(byModel)
        #expect(byModelJSON == #"""
            {"data":{"by":["model"],"currency":"USD","from":0,"groups":[{"cloud_equivalent":0.000465,"cloud_equivalent_per_million_tokens":0.465,"cloud_spend":0,"cost":1,"cost_per_million_tokens":1000,"end":3600,"labels":{"model":"llama"},"on_prem_cost":1,"requests":0,"savings":-0.999535,"start":0,"tokens":{"cached_input":600,"input":800,"output":200,"reasoning":0},"unpriced_tokens":0},{"cloud_cost_per_million_tokens":0.1825,"cloud_equivalent":0,"cloud_spend":0.5475,"cost":0.5475,"end":3600,"labels":{"model":"gpt-5-mini"},"on_prem_cost":0,"requests":0,"savings":0,"start":0,"tokens":{"cached_input":900000,"input":3000000,"output":0,"reasoning":0},"unpriced_tokens":0},{"cloud_equivalent":0,"cloud_spend":0,"cost":1,"end":7200,"idle_cost":1,"labels":{},"on_prem_cost":1,"requests":0,"savings":-1,"start":3600,"tokens":{"cached_input":0,"input":0,"output":0,"reasoning":0},"unpriced_tokens":0}],"to":7200,"total":2.5475},"status":"success"}
            """#)
    }

    @Test func whatIfTotalsSitFlatBesideTheirGroups() throws {
        let ledger = try FOCUSExportTests.ledger()
        let totals = CostReport(by: [], step: nil).rows(ledger).first?.figures
        let answer = WhatIfResponse(from: 0, to: 7_200, by: ["team"], currency: "USD", set: ["electricity.pue=1.2"], shift: [],
                                    today: WhatIfFigures(totals: totals, groups: CostReport(by: ["team"], step: nil).rows(ledger)),
                                    whatif: WhatIfFigures(totals: nil, groups: []), stayedOnCloudTokens: 0)
        let answerJSON = try APIGoldenTests.json(answer)
        #expect(answerJSON == #"""
            {"data":{"by":["team"],"currency":"USD","from":0,"set":["electricity.pue=1.2"],"shift":[],"stayed_on_cloud_tokens":0,"to":7200,"today":{"cloud_cost_per_million_tokens":0.1825,"cloud_equivalent":0.000465,"cloud_equivalent_per_million_tokens":0.465,"cloud_spend":0.5475,"components":{"capex":0,"energy":2,"energy_estimated":0,"overhead":0},"cost":2.5475,"cost_per_million_tokens":2000,"energy_sources":["gpu"],"groups":[{"cloud_equivalent":0.0002325,"cloud_equivalent_per_million_tokens":0.465,"cloud_spend":0,"cost":1.5,"cost_per_million_tokens":3000,"idle_cost":1,"labels":{},"on_prem_cost":1.5,"requests":0,"savings":-1.4997675,"tokens":{"cached_input":300,"input":400,"output":100,"reasoning":0},"unpriced_tokens":0},{"cloud_cost_per_million_tokens":0.25,"cloud_equivalent":0.0002325,"cloud_equivalent_per_million_tokens":0.465,"cloud_spend":0.5,"cost":1,"cost_per_million_tokens":1000,"labels":{"team":"research"},"on_prem_cost":0.5,"requests":0,"savings":-0.4997675,"tokens":{"cached_input":300,"input":2000400,"output":100,"reasoning":0},"unpriced_tokens":0},{"cloud_cost_per_million_tokens":0.0475,"cloud_equivalent":0,"cloud_spend":0.0475,"cost":0.0475,"labels":{"team":"ops"},"on_prem_cost":0,"requests":0,"savings":0,"tokens":{"cached_input":900000,"input":1000000,"output":0,"reasoning":0},"unpriced_tokens":0}],"idle_cost":1,"kwh":2,"kwh_estimated":0,"on_prem_cost":2,"requests":0,"savings":-1.999535,"tokens":{"cached_input":900600,"input":3000800,"output":200,"reasoning":0},"unpriced_tokens":0},"whatif":{"groups":[]}},"status":"success"}
            """#)
        // What the CLI reads back is what was written.
        let decoded = try APIJSON.decoder().decode(APISuccess<WhatIfResponse>.self, from: Data(try APIGoldenTests.json(answer).utf8)).data
        #expect(decoded == answer)
    }

    @Test func numbersJSONCannotHoldAreWrittenAsPrometheusWritesThem() throws {
        var figures = CostFigures(cost: .nan, onPremCost: .infinity, cloudSpend: -.infinity)
        figures.costPerMillionTokens = 1
        let group = CostGroup(labels: ["node": "a"], figures: figures)
        let text = try APIGoldenTests.json(group)
        #expect(text.contains(#""cost":"NaN""#) && text.contains(#""on_prem_cost":"+Inf""#) && text.contains(#""cloud_spend":"-Inf""#))
        let decoded = try APIJSON.decoder().decode(APISuccess<CostGroup>.self, from: Data(text.utf8)).data
        #expect(decoded.figures.cost.isNaN && decoded.figures.onPremCost == .infinity && decoded.figures.cloudSpend == -.infinity)
    }

    @Test func reservationMessagesAsTheGatewayReadsThem() throws {
        let grant = ReservationGrant(id: "res_1", expiresAt: "2026-12-07T10:10:00.000Z", holds: [.init(budget: "research", amount: 0.25)])
        let grantJSON = try APIGoldenTests.json(grant)
        #expect(grantJSON == #"{"data":{"expires_at":"2026-12-07T10:10:00.000Z","holds":[{"amount":0.25,"budget":"research"}],"id":"res_1"},"status":"success"}"#)
        let refusal = ReservationRefusal(errorType: "budget_exceeded", error: "budget research: 0.10 of 0.10 USD used, resets 2027-01-01T00:00:00Z",
                                         budget: "research", used: 0.1, limit: 0.1, unit: "USD", resetsAt: "2027-01-01T00:00:00Z")
        let refusalJSON = String(decoding: try APIJSON.encoder().encode(refusal), as: UTF8.self)
        #expect(refusalJSON == #"{"budget":"research","error":"budget research: 0.10 of 0.10 USD used, resets 2027-01-01T00:00:00Z","errorType":"budget_exceeded","limit":0.1,"resets_at":"2027-01-01T00:00:00Z","status":"error","unit":"USD","used":0.1}"#)
        let request = ReservationRequest(labels: ["team": "research"], inputTokens: 1_200, maxOutputTokens: 4_096, ttlSeconds: 600)
        let requestJSON = String(decoding: try APIJSON.encoder().encode(request), as: UTF8.self)
        #expect(requestJSON == #"{"input_tokens":1200,"labels":{"team":"research"},"max_output_tokens":4096,"ttl_seconds":600}"#)
    }

    @Test func budgetsAndAlertsAsTheCLIAndPagesReadThem() throws {
        var budget = BudgetStatus(name: "research-monthly", measure: "usd", unit: "USD", limit: 20_000, thresholds: [0.5, 0.8], receivers: ["finops"],
                                  scope: ["team": "=research"], state: "alerting")
        budget.periodStart = "2026-12-01T00:00:00.000Z"
        budget.periodEnd = "2027-01-01T00:00:00.000Z"
        budget.spent = 10_500
        budget.usedRatio = 0.525
        budget.fired = ["threshold:0.5"]
        budget.runaway = false
        let budgetsJSON = try APIGoldenTests.json([budget, BudgetStatus(name: "new", measure: "tokens", unit: "tokens", limit: 1, thresholds: [], receivers: [],
                                                                          scope: [:], state: "not evaluated yet")])
        #expect(budgetsJSON == #"{"data":[{"fired":["threshold:0.5"],"limit":20000,"measure":"usd","name":"research-monthly","period_end":"2027-01-01T00:00:00.000Z","period_start":"2026-12-01T00:00:00.000Z","receivers":["finops"],"runaway":false,"scope":{"team":"=research"},"spent":10500,"state":"alerting","thresholds":[0.5,0.8],"unit":"USD","used_ratio":0.525},{"limit":1,"measure":"tokens","name":"new","receivers":[],"scope":{},"state":"not evaluated yet","thresholds":[],"unit":"tokens"}],"status":"success"}"#)
        var alert = AlertRecord(eventID: "evt_1", receiver: "finops", created: "2026-12-07T10:00:00.000Z", status: "pending", attempts: 2)
        alert.type = "threshold"
        alert.budget = "research-monthly"
        alert.nextAttempt = "2026-12-07T10:00:04.000Z"
        alert.lastError = "HTTP 503"
        let alertJSON = try APIGoldenTests.json([alert])
        #expect(alertJSON == #"{"data":[{"attempts":2,"budget":"research-monthly","created":"2026-12-07T10:00:00.000Z","event_id":"evt_1","last_error":"HTTP 503","next_attempt":"2026-12-07T10:00:04.000Z","receiver":"finops","status":"pending","type":"threshold"}],"status":"success"}"#)
    }

    @Test func adviceWritesUnknownFiguresAsNull() throws {
        var placement = AdviceResponse.Placement(node: "gpu-01", tokensPerSecond: 120, meanTokensPerSecond: 100, peakTokensPerSecond: 300,
                                                 saturated: false, marginalBasis: "average")
        placement.watts = 350
        let plain = AdviceResponse(computedAt: 1_800_000_000, windowSeconds: 3_600, stepSeconds: 60, currency: "USD",
                                   recommendations: [.init(model: "llama", action: "keep_local", reasons: ["cheaper"], cloudModel: nil,
                                                           overflowAboveTokensPerSecond: nil, powerOff: [], nodes: [placement])],
                                   idleNodes: [.init(node: "gpu-02", savingsPerMonth: 400)])
        let plainJSON = try APIGoldenTests.json(plain)
        #expect(plainJSON == #"{"data":{"computed_at":1800000000,"currency":"USD","idle_nodes":[{"node":"gpu-02","savings_per_month":400}],"recommendations":[{"action":"keep_local","cloud_model":null,"model":"llama","nodes":[{"average_cost_per_million_tokens":null,"average_joules_per_output_token":null,"capacity_tokens_per_second":null,"cloud_price_per_million_tokens":null,"headroom_tokens_per_second":null,"idle_watts":null,"joules_per_input_token":null,"joules_per_output_token":null,"joules_per_token":null,"kv_cache_usage":null,"marginal_basis":"average","marginal_cost_per_million_tokens":null,"mean_tokens_per_second":100,"node":"gpu-01","peak_tokens_per_second":300,"phase_basis":null,"power_fit_r_squared":null,"queue":null,"saturated":false,"tokens_per_second":120,"utilization":null,"watts":350}],"overflow_above_tokens_per_second":null,"power_off":[],"reasons":["cheaper"]}],"step_seconds":60,"window_seconds":3600},"status":"success"}"#)
        placement.emissions = .init(marginal: nil, average: 12.5)
        var carbon = plain
        carbon.recommendations[0].nodes = [placement]
        let carbonJSON = try APIGoldenTests.json(carbon)
        #expect(carbonJSON.contains(#""average_gco2e_per_million_tokens":12.5"#) && carbonJSON.contains(#""marginal_gco2e_per_million_tokens":null"#))
        #expect(try APIJSON.decoder().decode(APISuccess<AdviceResponse>.self, from: Data(carbonJSON.utf8)).data == carbon)
    }

    @Test func queryTokensAndFleetAnswersAsPrometheusAndTheDocsWriteThem() throws {
        let matrix = MatrixResponse(result: [.init(metric: ["__name__": "up", "node": "a"], values: [.init(time: 1_700_000_000.5, value: "NaN"), .init(time: 1_700_000_060, value: "1")])])
        let matrixJSON = try APIGoldenTests.json(matrix)
        #expect(matrixJSON == #"{"data":{"result":[{"metric":{"__name__":"up","node":"a"},"values":[[1700000000.5,"NaN"],[1700000060,"1"]]}],"resultType":"matrix"},"status":"success"}"#)
        let tokens = TokensResponse(from: 0, to: 3_600, by: ["model"], groups: [.init(labels: ["model": "llama"], tokens: ["input": 1_500, "output": 500, "cached_input": 1_000], requests: 3)])
        let tokensJSON = try APIGoldenTests.json(tokens)
        #expect(tokensJSON == #"{"data":{"by":["model"],"from":0,"groups":[{"labels":{"model":"llama"},"requests":3,"tokens":{"cached_input":1000,"input":1500,"output":500},"total":2000}],"to":3600,"total":2000},"status":"success"}"#)
        let fleet = [FleetNode(node: "vm-1", up: false, lastPush: nil, gpus: 0, powerWatts: 39.4, powerSource: "estimated", gpuUtilization: nil, gpuTemperatureMaxCelsius: nil,
                               cpuUtilization: 0.25, tokensPerSecond: 0, models: [])]
        let fleetJSON = try APIGoldenTests.json(fleet)
        #expect(fleetJSON == #"{"data":[{"cpu_utilization":0.25,"gpu_temperature_max_celsius":null,"gpu_utilization":null,"gpus":0,"last_push":null,"models":[],"node":"vm-1","power_source":"estimated","power_watts":39.4,"tokens_per_second":0,"up":false}],"status":"success"}"#)
    }
}
