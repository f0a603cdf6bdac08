import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TokenWattCore
@testable import TokenWattAggregator

@Suite struct TokensAPITests {
    static let now: Int64 = 1_800_000_000_000
    static func minutesAgo(_ minutes: Int64) -> Int64 { now - minutes * 60_000 }

    /// Two nodes; gpu-01's vLLM restarts 30 minutes ago; gpu-02 also reports cloud usage.
    static func pushScenario(_ client: any TestClientProtocol) async throws {
        let vllm = ["model": "llama", "source": "vllm"]
        let usage = ["model": "gpt-5-mini", "provider": "openai", "source": "usage_api", "team": "research"]
        let gpu01 = push([
            ts("tokenwatt_tokens_total", vllm.merging(["type": "input"]) { $1 },
               [(minutesAgo(50), 1_000), (minutesAgo(40), 1_500), (minutesAgo(30), 200), (minutesAgo(20), 700)]),
            ts("tokenwatt_tokens_total", vllm.merging(["type": "output"]) { $1 }, [(minutesAgo(50), 100), (minutesAgo(20), 400)]),
            ts("tokenwatt_gpu_power_watts", ["gpu": "0"], [(minutesAgo(20), 300)]),
        ])
        var headers = remoteWriteHeaders
        headers[.authorization] = "Bearer secret-2"
        let gpu02 = push([
            ts("tokenwatt_tokens_total", vllm.merging(["type": "input"]) { $1 }, [(minutesAgo(44), 0), (minutesAgo(10), 300)]),
            ts("tokenwatt_tokens_total", usage.merging(["type": "input"]) { $1 }, [(minutesAgo(30), 0), (minutesAgo(20), 50)]),
            ts("tokenwatt_requests_total", usage, [(minutesAgo(30), 0), (minutesAgo(20), 1)]),
        ], headers: headers)
        for (headers, body) in [gpu01, gpu02] {
            try await client.execute(uri: "/api/v1/write", method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
        }
    }

    static func groups(_ client: any TestClientProtocol, _ query: String) async throws -> [[String: Any]] {
        try await client.execute(uri: "/api/v1/tokens?\(query)", method: .get) { response in
            #expect(response.status == .ok)
            let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            return (object?["data"] as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        }
    }

    @Test func totalsByModelCountResetsAndLeaveOutTheStepBeforeTheRange() async throws {
        try await withAggregator(now: { TokensAPITests.now }) { client, _ in
            try await TokensAPITests.pushScenario(client)
            let from = Double(TokensAPITests.minutesAgo(45)) / 1000
            let groups = try await TokensAPITests.groups(client, "from=\(from)&by=model")
            // llama input: gpu-01 500 + 200 (reset) + 500 = 1200, gpu-02 300 (its first sample has no baseline).
            #expect(groups.count == 2)
            #expect(groups[0]["labels"] as? [String: String] == ["model": "llama"])
            #expect(groups[0]["tokens"] as? [String: Int] == ["input": 1_500, "output": 300])
            #expect(groups[0]["total"] as? Int == 1_800)
            #expect(groups[1]["labels"] as? [String: String] == ["model": "gpt-5-mini"])
            #expect(groups[1]["tokens"] as? [String: Int] == ["input": 50])
            #expect(groups[1]["requests"] as? Int == 1)
        }
    }

    @Test func groupsByNodeAndTeamAndNarrowsWithMatch() async throws {
        try await withAggregator(now: { TokensAPITests.now }) { client, _ in
            try await TokensAPITests.pushScenario(client)
            let from = Double(TokensAPITests.minutesAgo(45)) / 1000
            let groups = try await TokensAPITests.groups(client, "from=\(from)&by=node,team")
            let byKey = Dictionary(uniqueKeysWithValues: groups.map { (($0["labels"] as? [String: String]) ?? [:], $0["total"] as? Int) })
            #expect(byKey == [["node": "gpu-01"]: 1_500, ["node": "gpu-02"]: 300, ["node": "gpu-02", "team": "research"]: 50])
            let cloud = try await TokensAPITests.groups(client, "from=\(from)&by=provider&match=%7Bsource%3D%22usage_api%22%7D")
            #expect(cloud.count == 1)
            #expect(cloud.first?["labels"] as? [String: String] == ["provider": "openai"])
        }
    }

    @Test func backToBackRangesAddUpToTheWhole() async throws {
        try await withAggregator(now: { TokensAPITests.now }) { client, _ in
            try await TokensAPITests.pushScenario(client)
            func total(_ from: Int64, _ to: Int64) async throws -> Int {
                let groups = try await TokensAPITests.groups(client, "from=\(Double(from) / 1000)&to=\(Double(to) / 1000)&by=node&match=%7Bnode%3D%22gpu-01%22%7D")
                return groups.compactMap { $0["total"] as? Int }.reduce(0, +)
            }
            let whole = try await total(TokensAPITests.minutesAgo(60), TokensAPITests.now)
            let parts = try await total(TokensAPITests.minutesAgo(60), TokensAPITests.minutesAgo(35))
                + (try await total(TokensAPITests.minutesAgo(35), TokensAPITests.now))
            #expect(whole == 1_500)
            #expect(parts == whole)
            #expect(try await total(TokensAPITests.minutesAgo(35), TokensAPITests.minutesAgo(25)) == 200)
        }
    }

    @Test(arguments: ["by=type", "by=bad-name", "from=1800000000&to=1700000000", "from=yesterday"])
    func badParametersAreBadData(_ query: String) async throws {
        try await withAggregator(now: { TokensAPITests.now }) { client, _ in
            try await client.execute(uri: "/api/v1/tokens?\(query)", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("\"errorType\":\"bad_data\""))
            }
        }
    }
}
