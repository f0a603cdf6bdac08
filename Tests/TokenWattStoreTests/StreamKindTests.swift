import GRDB
import Testing
import TokenWattCore
@testable import TokenWattStore

/// Which token streams are cloud spend, which ran on the fleet, which went through the
/// gateway: one table, asked by Swift and, generated from it, by the day summary's SQL.
@Suite struct StreamKindTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var source: String
        var kind: StreamKind
        var cloudSpend: Bool
        var throughGateway: Bool
        var testDescription: String { source.isEmpty ? "(empty)" : source }
    }

    static let cases: [Case] = [
        Case(source: "usage_api", kind: .usageAPI, cloudSpend: true, throughGateway: false),
        Case(source: "gateway", kind: .gatewayCloud, cloudSpend: true, throughGateway: true),
        Case(source: "gateway_local", kind: .gatewayLocal, cloudSpend: false, throughGateway: true),
        Case(source: "vllm", kind: .inferenceServer, cloudSpend: false, throughGateway: false),
        Case(source: "sglang", kind: .inferenceServer, cloudSpend: false, throughGateway: false),
        Case(source: "unknown", kind: .inferenceServer, cloudSpend: false, throughGateway: false),
        // Near misses are not cloud spend: the rule matches whole labels.
        Case(source: "USAGE_API", kind: .inferenceServer, cloudSpend: false, throughGateway: false),
        Case(source: "gateway ", kind: .inferenceServer, cloudSpend: false, throughGateway: false),
        Case(source: "usage_api'--", kind: .inferenceServer, cloudSpend: false, throughGateway: false),
        Case(source: "", kind: .inferenceServer, cloudSpend: false, throughGateway: false),
    ]

    @Test(arguments: cases)
    func swiftTellsTheKindOfASource(_ example: Case) {
        let kind = StreamKind(source: example.source)
        #expect(kind == example.kind)
        #expect(kind.isCloudSpend == example.cloudSpend)
        #expect(StreamKind.isCloudSpend(example.source) == example.cloudSpend)
        #expect(kind.isThroughGateway == example.throughGateway)
    }

    @Test func sqlClassifiesEveryRowAsSwiftDoes() throws {
        let database = try DatabaseQueue()
        let (cloud, local) = try database.write { db -> (Set<String>, Set<String>) in
            try db.execute(sql: "CREATE TABLE streams (source TEXT NOT NULL)")
            for example in StreamKindTests.cases { try db.execute(sql: "INSERT INTO streams VALUES (?)", arguments: [example.source]) }
            let cloud = try String.fetchSet(db, sql: "SELECT source FROM streams WHERE \(StreamKind.sqlCondition(column: "source", cloudSpend: true))")
            let local = try String.fetchSet(db, sql: "SELECT source FROM streams WHERE \(StreamKind.sqlCondition(column: "source", cloudSpend: false))")
            return (cloud, local)
        }
        #expect(cloud == Set(StreamKindTests.cases.filter(\.cloudSpend).map(\.source)))
        #expect(local == Set(StreamKindTests.cases.filter { !$0.cloudSpend }.map(\.source)))
        #expect(cloud.isDisjoint(with: local))
    }
}

/// A node's hour is idle when it served no local tokens: the same rule for reports, totals,
/// the hour's share-out and the day summary's SQL.
@Suite struct IdleHoursTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        /// Usage rows of gpu-01 in hour 0: source and tokens.
        var rows: [(source: String, input: Double, output: Double)]
        var idle: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "no rows", rows: [], idle: true),
        Case(name: "a server's tokens", rows: [("vllm", 100, 10)], idle: false),
        Case(name: "output alone", rows: [("vllm", 0, 1)], idle: false),
        Case(name: "a stream with no tokens", rows: [("vllm", 0, 0)], idle: true),
        Case(name: "cloud spend alone", rows: [("usage_api", 1_000, 100), ("gateway", 50, 5)], idle: true),
        Case(name: "the gateway's local route", rows: [("gateway_local", 10, 0)], idle: false),
        Case(name: "cloud spend beside a server's tokens", rows: [("usage_api", 1_000, 100), ("sglang", 1, 0)], idle: false),
    ]

    @Test(arguments: cases)
    func anHourWithoutLocalTokensIsIdle(_ example: Case) throws {
        let usage = example.rows.map { row in
            var usage = LedgerUsageHour(hour: 0, node: "gpu-01", source: row.source, provider: "p", model: "m", labels: [:])
            usage.input = row.input
            usage.output = row.output
            return usage
        }
        // Another node's and another hour's tokens change nothing.
        var elsewhere = LedgerUsageHour(hour: 0, node: "gpu-02", source: "vllm", provider: "p", model: "m", labels: [:])
        elsewhere.input = 5
        var later = LedgerUsageHour(hour: Milliseconds.hour, node: "gpu-01", source: "vllm", provider: "p", model: "m", labels: [:])
        later.input = 5
        let idleHours = IdleHours(usage + [elsewhere, later])
        #expect(idleHours.isIdle(node: "gpu-01", hour: 0) == example.idle)
        #expect(idleHours.idlePart(of: 7, node: "gpu-01", hour: 0) == (example.idle ? 7 : 0))

        // The SQL form says the same of the same rows.
        let database = try DatabaseQueue()
        let sqlIdle = try database.write { db -> Double in
            try db.execute(sql: "CREATE TABLE ledger_usage (hour INTEGER, node TEXT, source TEXT, input REAL, output REAL)")
            try db.execute(sql: "CREATE TABLE ledger_nodes (hour INTEGER, node TEXT, cost REAL)")
            for row in usage + [elsewhere, later] {
                try db.execute(sql: "INSERT INTO ledger_usage VALUES (?, ?, ?, ?, ?)", arguments: [row.hour, row.node, row.source, row.input, row.output])
            }
            try db.execute(sql: "INSERT INTO ledger_nodes VALUES (0, 'gpu-01', 7)")
            return try Double.fetchOne(db, sql: "SELECT \(IdleHours.sql(idlePartOf: "cost")) FROM ledger_nodes n") ?? .nan
        }
        #expect(sqlIdle == (example.idle ? 7 : 0))
    }
}
