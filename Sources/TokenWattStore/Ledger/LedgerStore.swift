import Foundation
import GRDB
import TokenWattCore

/// One node's hour in the cost ledger. Money is in the configured currency.
public struct LedgerNodeHour: Sendable, Equatable {
    public var hour: Int64
    public var node: String
    /// Where the joules came from: `bmc` (whole node), `gpu+rapl`, `gpu+psys`, `gpu`, `rapl`,
    /// `psys`, or `none`.
    public var energySource: String
    public var joules: Double
    public var energyCost: Double
    public var capexCost: Double
    public var overheadCost: Double
    /// Grams of CO2e: from the energy drawn (joules × PUE × the grid's intensity) and the
    /// hour's share of the node's embodied emissions; 0 where no carbon intensity is configured.
    public var operationalGCO2e = 0.0
    public var embodiedGCO2e = 0.0
    /// In a row of the day summary (`LedgerStore.days`, `hour` the day's start): the part of its
    /// cost and grams from hours without local tokens. Nil in an hour's row, whose idleness the
    /// hour's usage rows tell.
    public var idleCost: Double?
    public var idleGCO2e: Double?

    public init(hour: Int64, node: String, energySource: String, joules: Double, energyCost: Double, capexCost: Double, overheadCost: Double) {
        self.hour = hour
        self.node = node
        self.energySource = energySource
        self.joules = joules
        self.energyCost = energyCost
        self.capexCost = capexCost
        self.overheadCost = overheadCost
    }

    public var cost: Double { energyCost + capexCost + overheadCost }
    public var gco2e: Double { operationalGCO2e + embodiedGCO2e }
}

/// One token stream's hour in the cost ledger: tokens of one source, provider and model on one
/// node (with the stream's other labels, such as `team`).
public struct LedgerUsageHour: Sendable, Equatable {
    public var hour: Int64
    public var node: String
    public var source: String
    public var provider: String
    public var model: String
    public var labels: [String: String]
    public var input: Double = 0
    public var cachedInput: Double = 0
    public var output: Double = 0
    public var reasoning: Double = 0
    public var requests: Double = 0
    /// What the tokens cost: their share of the node's cost (local), or the cloud's price.
    public var cost: Double = 0
    /// What local tokens would have cost on the cloud API their model is shadowed by.
    public var cloudEquivalent: Double = 0
    /// Local tokens' share of their node's emissions (grams of CO2e); 0 for cloud tokens,
    /// whose emissions the providers do not publish.
    public var gco2e: Double = 0
    /// Of a local stream's `cost`, the energy its inference servers drew on GPUs they shared
    /// with others, charged to it directly; the rest is its share by tokens of the node's
    /// other cost. 0 where the node's GPUs were not shared (or not measured per process).
    public var gpuShareCost: Double = 0
    /// Whether a price applied: a cloud price to usage-API tokens, a shadow price to local
    /// ones. Without one, `cost` (cloud) or `cloudEquivalent` (local) is unknown, not zero.
    public var priced = true

    public init(hour: Int64, node: String, source: String, provider: String, model: String, labels: [String: String]) {
        self.hour = hour
        self.node = node
        self.source = source
        self.provider = provider
        self.model = model
        self.labels = labels
    }

    /// All tokens: input and output (cached and reasoning tokens are parts of them).
    public var tokens: Double { input + output }
}

/// The cost ledger: one row per node and hour (energy, capex, overhead) and per usage stream
/// and hour (tokens, cost, cloud equivalent), the hours whose samples changed since they were
/// written, and the cost counters as last published.
public protocol LedgerStore: Sendable {
    /// Replaces the ledger of one hour, and clears the hour's pending mark.
    func replaceHour(_ hour: Int64, nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) async throws(StoreError)
    /// The ledger rows of the hours in `[from, to)` (ms).
    func hours(from: Int64, to: Int64) async throws(StoreError) -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour])
    /// The ledger summed by UTC day, of the days that start in `[from, to)` (ms): rows as
    /// `hours` has them with the day's start in `hour`, node rows with their idle part.
    func days(from: Int64, to: Int64) async throws(StoreError) -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour])
    /// The node rows alone of the hours in `[from, to)` (ms).
    func nodeHours(from: Int64, to: Int64) async throws(StoreError) -> [LedgerNodeHour]
    /// Saves published cost counters held above the ledger's totals (series key → value).
    func savePublishedCounters(_ raised: [String: Double]) async throws(StoreError)
    /// The cost counters as last published, by series key.
    func publishedCounters() async throws(StoreError) -> [String: Double]
    /// Marks hours for rewriting because their samples changed (`SampleStore.markChangedHours`).
    func markPending(_ hours: [Int64]) async throws(StoreError)
    /// Hours marked for rewriting, oldest first.
    func pendingHours() async throws(StoreError) -> [Int64]
}

/// The ledger in the `ledger_*` tables.
public final class SQLiteLedgerStore: LedgerStore {
    private let database: StoreDatabase

    public init(database: StoreDatabase) {
        self.database = database
    }

    public func replaceHour(_ hour: Int64, nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) async throws(StoreError) {
        try await database.write("write the ledger of hour \(hour)") { db in
            try LedgerDays.apply(db, hour: hour, sign: -1)
            try db.execute(sql: "DELETE FROM ledger_nodes WHERE hour = ?", arguments: [hour])
            try db.execute(sql: "DELETE FROM ledger_usage WHERE hour = ?", arguments: [hour])
            try db.execute(sql: "DELETE FROM ledger_pending WHERE hour = ?", arguments: [hour])
            let node = try db.cachedStatement(sql: """
                INSERT INTO ledger_nodes (hour, node, energy_source, joules, energy_cost, capex_cost, overhead_cost, operational_gco2e, embodied_gco2e)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for row in nodes {
                try node.execute(arguments: [hour, row.node, row.energySource, row.joules, row.energyCost, row.capexCost, row.overheadCost,
                                             row.operationalGCO2e, row.embodiedGCO2e])
            }
            let stream = try db.cachedStatement(sql: """
                INSERT INTO ledger_usage (hour, node, source, provider, model, labels, input, cached_input, output, reasoning,
                                          requests, cost, cloud_equivalent, priced, gco2e, gpu_share_cost)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for row in usage {
                let labels = String(decoding: try JSONSerialization.data(withJSONObject: row.labels, options: [.sortedKeys]), as: UTF8.self)
                try stream.execute(arguments: [hour, row.node, row.source, row.provider, row.model, labels, row.input, row.cachedInput,
                                               row.output, row.reasoning, row.requests, row.cost, row.cloudEquivalent, row.priced, row.gco2e, row.gpuShareCost])
            }
            try LedgerDays.apply(db, hour: hour, sign: 1)
        }
    }

    public func days(from: Int64, to: Int64) async throws(StoreError) -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) {
        try await database.read("read the ledger's days") { db in
            let nodes = try Row.fetchAll(db, sql: """
                SELECT day, node, energy_source, \(LedgerDays.nodeSums) FROM ledger_day_nodes WHERE day >= ? AND day < ? ORDER BY day, node
                """, arguments: [from, to]).map { row in
                var node = SQLiteLedgerStore.node(row)
                node.idleCost = row[9]
                node.idleGCO2e = row[10]
                return node
            }
            let usage = try Row.fetchAll(db, sql: """
                SELECT day, node, source, provider, model, labels, \(LedgerDays.usageSums), priced FROM ledger_day_usage
                WHERE day >= ? AND day < ? ORDER BY day, node, source, provider, model, labels
                """, arguments: [from, to]).map(SQLiteLedgerStore.usageReader())
            return (nodes, usage)
        }
    }

    public func nodeHours(from: Int64, to: Int64) async throws(StoreError) -> [LedgerNodeHour] {
        try await database.read("read the ledger's nodes") { db in try SQLiteLedgerStore.nodeHours(db, from: from, to: to) }
    }

    private static func nodeHours(_ db: Database, from: Int64, to: Int64) throws -> [LedgerNodeHour] {
        try Row.fetchAll(db, sql: """
            SELECT hour, node, energy_source, joules, energy_cost, capex_cost, overhead_cost, operational_gco2e, embodied_gco2e FROM ledger_nodes
            WHERE hour >= ? AND hour < ? ORDER BY hour, node
            """, arguments: [from, to]).map(SQLiteLedgerStore.node)
    }

    /// A node row of `hour, node, energy_source` and the first six of `LedgerDays.nodeSums`.
    private static func node(_ row: Row) -> LedgerNodeHour {
        var node = LedgerNodeHour(hour: row[0], node: row[1], energySource: row[2], joules: row[3], energyCost: row[4], capexCost: row[5], overheadCost: row[6])
        node.operationalGCO2e = row[7]
        node.embodiedGCO2e = row[8]
        return node
    }

    public func hours(from: Int64, to: Int64) async throws(StoreError) -> (nodes: [LedgerNodeHour], usage: [LedgerUsageHour]) {
        try await database.read("read the ledger") { db in
            let nodes = try SQLiteLedgerStore.nodeHours(db, from: from, to: to)
            let usage = try Row.fetchAll(db, sql: """
                SELECT hour, node, source, provider, model, labels, \(LedgerDays.usageSums), priced
                FROM ledger_usage WHERE hour >= ? AND hour < ? ORDER BY hour, node, source, provider, model, labels
                """, arguments: [from, to]).map(SQLiteLedgerStore.usageReader())
            return (nodes, usage)
        }
    }

    /// Reads usage rows of `hour, node, source, provider, model, labels`, `LedgerDays.usageSums`,
    /// `priced`, each distinct labels text decoded once (a fleet's streams share a few).
    /// Labels that do not read back fail the read, naming the row: a report would otherwise
    /// put the row's tokens and cost under no team.
    private static func usageReader() -> (Row) throws -> LedgerUsageHour {
        var decoded: [String: [String: String]] = [:]
        return { row in
            let text: String = row[5]
            if decoded[text] == nil {
                do {
                    decoded[text] = Dictionary(try LabelsJSON.decode(text).labels.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
                } catch {
                    let hour: Int64 = row[0], node: String = row[1], model: String = row[4]
                    throw StoreError.database("the ledger's usage row of hour \(TimeBounds.rfc3339(hour)), node \(node), model \(model) has unreadable labels: \(error)")
                }
            }
            return usage(row, labels: decoded[text] ?? [:])
        }
    }

    private static func usage(_ row: Row, labels: [String: String]) -> LedgerUsageHour {
        var stream = LedgerUsageHour(hour: row[0], node: row[1], source: row[2], provider: row[3], model: row[4], labels: labels)
        stream.input = row[6]
        stream.cachedInput = row[7]
        stream.output = row[8]
        stream.reasoning = row[9]
        stream.requests = row[10]
        stream.cost = row[11]
        stream.cloudEquivalent = row[12]
        stream.gco2e = row[13]
        stream.gpuShareCost = row[14]
        stream.priced = row[15]
        return stream
    }

    public func savePublishedCounters(_ raised: [String: Double]) async throws(StoreError) {
        guard !raised.isEmpty else { return }
        try await database.write("save the published ledger counters") { db in
            let counter = try db.cachedStatement(sql: "INSERT OR REPLACE INTO ledger_counters (series, value) VALUES (?, ?)")
            for (series, value) in raised { try counter.execute(arguments: [series, value]) }
        }
    }

    public func publishedCounters() async throws(StoreError) -> [String: Double] {
        try await database.read("read the published ledger counters") { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT series, value FROM ledger_counters").map { ($0[0], $0[1]) })
        }
    }

    public func markPending(_ hours: [Int64]) async throws(StoreError) {
        try await database.write("mark changed hours") { db in
            let mark = try db.cachedStatement(sql: "INSERT OR IGNORE INTO ledger_pending (hour) VALUES (?)")
            for hour in hours { try mark.execute(arguments: [hour]) }
        }
    }

    public func pendingHours() async throws(StoreError) -> [Int64] {
        try await database.read("read pending ledger hours") { db in try Int64.fetchAll(db, sql: "SELECT hour FROM ledger_pending ORDER BY hour") }
    }
}
