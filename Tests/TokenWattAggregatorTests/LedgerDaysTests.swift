import Foundation
import GRDB
import Testing
import TokenWattCore
@testable import TokenWattAggregator
@testable import TokenWattStore
@testable import TokenWattConfiguration

/// The ledger's day summary against its hours, on `CostScenarioTests`' day (its late hour
/// rewritten, so rows are taken out of the day and put back): every figure of every report
/// grouping equal, and the summary the v13 migration builds from the hours equal to the one
/// kept hour by hour.
@Suite struct LedgerDaysTests {
    typealias Scenario = CostScenarioTests

    static func reports(_ ledger: (nodes: [LedgerNodeHour], usage: [LedgerUsageHour])) -> [String: [String: Double]] {
        var figures: [String: [String: Double]] = [:]
        let day = CostReport.Step.calendar(CalendarPeriod(.day, timezone: TimeZone(identifier: "UTC")!))
        for by in [[], ["node"], ["model"], ["team"], ["node", "model"], ["provider"]] {
            for step in [nil, day] {
                for row in CostReport(by: by, step: step, carbon: true).rows(ledger) {
                    let key = "\(by) \(step == nil ? "" : "day") \(row.labels.sorted { $0.key < $1.key })"
                    var numbers: [String: Double] = [:]
                    numbers["start"] = row.start
                    numbers["end"] = row.end
                    collectNumbers(of: row.figures, named: "", into: &numbers)
                    figures[key] = numbers
                }
            }
        }
        return figures
    }

    /// Every number in a value of the report, by its path (`tokens.input`): the figures a
    /// group has, whatever type holds them.
    static func collectNumbers(of value: Any, named name: String, into numbers: inout [String: Double]) {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            if let wrapped = mirror.children.first { collectNumbers(of: wrapped.value, named: name, into: &numbers) }
        } else if let number = value as? Double {
            numbers[name] = number
        } else if mirror.displayStyle == .struct {
            for child in mirror.children {
                collectNumbers(of: child.value, named: name.isEmpty ? child.label ?? "" : "\(name).\(child.label ?? "")", into: &numbers)
            }
        }
    }

    static func expectEqual(_ days: [String: [String: Double]], _ hours: [String: [String: Double]]) {
        #expect(Set(days.keys) == Set(hours.keys))
        for (key, numbers) in hours {
            for (name, value) in numbers where name != "start" && name != "end" {
                let other = days[key]?[name] ?? .nan
                #expect(abs(other - value) <= 1e-9 * max(1, abs(value)), "\(key) \(name): days \(other), hours \(value)")
            }
        }
    }

    @Test func reportsFromDaysEqualReportsFromHours() async throws {
        let pricing = try Pricing.parse(ConfigNode(yaml: Scenario.pricingYAML + "\ncarbon: {intensity_g_per_kwh: 300}", file: "costs.yml"))
        try await withAggregator({
            $0.pricing = pricing
            $0.nodes.append(SenderCredential(name: "vm-03", token: "secret-3"))
        }, now: { Scenario.now }) { client, aggregator in
            try await Scenario.send(client, Scenario.gpu01(), token: "secret-1")
            try await Scenario.send(client, Scenario.vm03(), token: "secret-3")
            try await Scenario.send(client, Scenario.gpu02(lateHourOnly: false), token: "secret-2")
            try await aggregator.stores.samples.markChangedHours(now: Scenario.now, in: aggregator.stores.ledger)
            try await aggregator.costs.update()
            try await Scenario.send(client, Scenario.gpu02(lateHourOnly: true), token: "secret-2")
            try await Scenario.send(client, Scenario.gpu01Late(), token: "secret-1")
            try await aggregator.stores.samples.markChangedHours(now: Scenario.now, in: aggregator.stores.ledger)
            try await aggregator.costs.update()

            let ledger = aggregator.stores.ledger
            let hours = try await ledger.hours(from: Scenario.dayStart, to: Scenario.dayEnd)
            let days = try await ledger.days(from: Scenario.dayStart, to: Scenario.dayEnd)
            #expect(days.usage.count < hours.usage.count / 10 && !days.usage.isEmpty)
            #expect(days.nodes.allSatisfy { $0.idleCost != nil })
            let fromHours = LedgerDaysTests.reports(hours)
            #expect(fromHours.count > 20)
            LedgerDaysTests.expectEqual(LedgerDaysTests.reports(days), fromHours)

            // The migration's summary of the same hours, from scratch.
            try await aggregator.stores.database.write("rebuild the day summary") { db in
                try db.execute(sql: "DROP TABLE ledger_day_nodes; DROP TABLE ledger_day_usage")
                try LedgerDays.create(db)
                // What v14 adds to the table v13 made.
                try db.execute(sql: "ALTER TABLE ledger_day_usage ADD COLUMN gpu_share_cost REAL NOT NULL DEFAULT 0")
            }
            LedgerDaysTests.expectEqual(LedgerDaysTests.reports(try await ledger.days(from: Scenario.dayStart, to: Scenario.dayEnd)), fromHours)
        }
    }

    /// Budgets read whole UTC days of their period from the summary and the rest by the hour:
    /// each spends what its period's hours add up to (a month in UTC with and without a forecast
    /// window, Berlin's day, which began at 23:00 UTC, money and tokens), the morning after the
    /// scenario's day: the days before the scenario's come from the summary.
    @Test func budgetsReadingDaysSpendWhatTheHoursAddUpTo() async throws {
        let pricing = try Pricing.parse(ConfigNode(yaml: Scenario.pricingYAML, file: "costs.yml"))
        let budgets = try Budget.parse(ConfigNode(yaml: """
            budgets:
              - {name: utc-month, limit: 10000, period: {every: month}}
              - {name: utc-month-forecast, limit: 10000, period: {every: month}, forecast: {window: 2h}}
              - {name: berlin-day, limit: 10000, period: {every: day, timezone: Europe/Berlin}}
              - {name: qwen-tokens-week, measure: tokens, limit: 1e12, match: {model: "=~Qwen/.*"}, period: {every: week}}
              - {name: gpu-02-week, limit: 10000, match: {node: gpu-02}, period: {every: week}}
            """, file: "budgets.yml"), environment: [:], countsCarbon: false).budgets
        try await withAggregator({
            $0.pricing = pricing
            $0.budgets = budgets
            $0.nodes.append(SenderCredential(name: "vm-03", token: "secret-3"))
        }, now: { Scenario.now }) { client, aggregator in
            try await Scenario.send(client, Scenario.gpu01() + Scenario.gpu01Late(), token: "secret-1")
            try await Scenario.send(client, Scenario.vm03(), token: "secret-3")
            try await Scenario.send(client, Scenario.gpu02(lateHourOnly: false) + Scenario.gpu02(lateHourOnly: true), token: "secret-2")
            try await aggregator.stores.samples.markChangedHours(now: Scenario.now, in: aggregator.stores.ledger)
            try await aggregator.costs.update()
            try await aggregator.budgets.evaluate()

            let hours = try await aggregator.stores.ledger.hours(from: Scenario.dayStart - 30 * 24 * Scenario.hour, to: Scenario.now + Scenario.hour)
            let states = aggregator.budgets.currentStates
            for budget in budgets {
                let expected = BudgetEngine.reading(budget, ledger: hours, now: Scenario.now).spent
                let spent = states[budget.name]?.spent ?? .nan
                #expect(abs(spent - expected) <= 1e-9 * max(1, expected), "\(budget.name): \(spent), the hours say \(expected)")
                #expect(expected > 0, "\(budget.name)")
            }
        }
    }
}
