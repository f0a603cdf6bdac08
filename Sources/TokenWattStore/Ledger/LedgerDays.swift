import GRDB
import TokenWattCore

/// The ledger summed by UTC day (`ledger_day_nodes`, `ledger_day_usage`), kept by
/// `SQLiteLedgerStore.replaceHour` in the same transaction as the hours: the hour's old rows
/// are taken out of their day and its new rows added. A page or report over days reads a
/// row per day and stream instead of one per hour (a week at 1,000 nodes: 28,000 rows, not
/// 670,000). A node's day rows are apart by energy source, its usage rows by `priced`, and
/// each node row carries its idle part (the cost and grams of its hours without local tokens),
/// so what is figured from days equals what is figured from their hours.
enum LedgerDays {
    /// The UTC day of a row's `hour` in SQL, as `TimeBucket.current(at:width:)` has it for the
    /// hours it is used on (`hour >= 0`).
    private static let utcDay = "hour - hour % \(Milliseconds.day)"

    static let nodeSums = """
        joules, energy_cost, capex_cost, overhead_cost, operational_gco2e, embodied_gco2e, idle_cost, idle_gco2e
        """
    static let usageSums = "input, cached_input, output, reasoning, requests, cost, cloud_equivalent, gco2e, gpu_share_cost"

    static func upserts(_ columns: String) -> String {
        columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.map { "\($0) = \($0) + excluded.\($0)" }.joined(separator: ", ")
    }

    /// Adds (`sign` 1) or takes out (-1) the rows of one hour from its day.
    static func apply(_ db: Database, hour: Int64, sign: Double) throws {
        let day = TimeBucket.current(at: hour, width: Milliseconds.day)
        try db.execute(sql: """
            INSERT INTO ledger_day_nodes (day, node, energy_source, \(nodeSums))
            SELECT ?, node, energy_source, ? * joules, ? * energy_cost, ? * capex_cost, ? * overhead_cost, ? * operational_gco2e, ? * embodied_gco2e,
                   ? * \(IdleHours.sql(idlePartOf: "energy_cost + capex_cost + overhead_cost")), ? * \(IdleHours.sql(idlePartOf: "operational_gco2e + embodied_gco2e"))
            FROM ledger_nodes n WHERE n.hour = ?
            ON CONFLICT (day, node, energy_source) DO UPDATE SET \(upserts(nodeSums))
            """, arguments: [day, sign, sign, sign, sign, sign, sign, sign, sign, hour])
        try db.execute(sql: """
            INSERT INTO ledger_day_usage (day, node, source, provider, model, labels, priced, \(usageSums))
            SELECT ?, node, source, provider, model, labels, priced, ? * input, ? * cached_input, ? * output, ? * reasoning, ? * requests, ? * cost,
                   ? * cloud_equivalent, ? * gco2e, ? * gpu_share_cost
            FROM ledger_usage WHERE hour = ?
            ON CONFLICT (day, node, source, provider, model, labels, priced) DO UPDATE SET \(upserts(usageSums))
            """, arguments: [day, sign, sign, sign, sign, sign, sign, sign, sign, sign, hour])
        // A stream or energy source gone from every hour of the day leaves no row there either (a
        // row of zeros that some hour still holds stays, as that hour's does).
        try db.execute(sql: """
            DELETE FROM ledger_day_usage AS d WHERE day = ?
              AND abs(input) + abs(output) + abs(requests) + abs(cost) + abs(cloud_equivalent) + abs(gco2e) < 1e-9
              AND NOT EXISTS (SELECT 1 FROM ledger_usage u WHERE u.hour >= d.day AND u.hour < d.day + \(Milliseconds.day) AND u.node = d.node AND u.source = d.source
                              AND u.provider = d.provider AND u.model = d.model AND u.labels = d.labels AND u.priced = d.priced)
            """, arguments: [day])
        try db.execute(sql: """
            DELETE FROM ledger_day_nodes AS d WHERE day = ?
              AND abs(joules) + abs(energy_cost) + abs(capex_cost) + abs(overhead_cost) + abs(operational_gco2e) + abs(embodied_gco2e) < 1e-9
              AND NOT EXISTS (SELECT 1 FROM ledger_nodes n WHERE n.hour >= d.day AND n.hour < d.day + \(Milliseconds.day) AND n.node = d.node
                              AND n.energy_source = d.energy_source)
            """, arguments: [day])
    }

    /// Creates the tables and sums every hour already in the ledger into them (migration v13: its
    /// columns as they were then, v14 adds one).
    static func create(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE ledger_day_nodes (
                day INTEGER NOT NULL, node TEXT NOT NULL, energy_source TEXT NOT NULL,
                joules REAL NOT NULL, energy_cost REAL NOT NULL, capex_cost REAL NOT NULL, overhead_cost REAL NOT NULL,
                operational_gco2e REAL NOT NULL, embodied_gco2e REAL NOT NULL, idle_cost REAL NOT NULL, idle_gco2e REAL NOT NULL,
                PRIMARY KEY (day, node, energy_source)
            ) WITHOUT ROWID;
            CREATE TABLE ledger_day_usage (
                day INTEGER NOT NULL, node TEXT NOT NULL, source TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
                labels TEXT NOT NULL, priced INTEGER NOT NULL,
                input REAL NOT NULL, cached_input REAL NOT NULL, output REAL NOT NULL, reasoning REAL NOT NULL, requests REAL NOT NULL,
                cost REAL NOT NULL, cloud_equivalent REAL NOT NULL, gco2e REAL NOT NULL,
                PRIMARY KEY (day, node, source, provider, model, labels, priced)
            ) WITHOUT ROWID;
            """)
        try db.execute(sql: """
            INSERT INTO ledger_day_nodes (day, node, energy_source, \(nodeSums))
            SELECT \(utcDay), node, energy_source, SUM(joules), SUM(energy_cost), SUM(capex_cost), SUM(overhead_cost),
                   SUM(operational_gco2e), SUM(embodied_gco2e), SUM(\(IdleHours.sql(idlePartOf: "energy_cost + capex_cost + overhead_cost"))),
                   SUM(\(IdleHours.sql(idlePartOf: "operational_gco2e + embodied_gco2e")))
            FROM ledger_nodes n WHERE hour >= 0 GROUP BY \(utcDay), node, energy_source
            """)
        try db.execute(sql: """
            INSERT INTO ledger_day_usage (day, node, source, provider, model, labels, priced, input, cached_input, output, reasoning, requests,
                                          cost, cloud_equivalent, gco2e)
            SELECT \(utcDay), node, source, provider, model, labels, priced, SUM(input), SUM(cached_input), SUM(output), SUM(reasoning),
                   SUM(requests), SUM(cost), SUM(cloud_equivalent), SUM(gco2e)
            FROM ledger_usage WHERE hour >= 0 GROUP BY \(utcDay), node, source, provider, model, labels, priced
            """)
    }
}
