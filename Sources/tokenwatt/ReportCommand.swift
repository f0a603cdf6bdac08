import ArgumentParser
import Foundation
import TokenWattAPI
import TokenWattCore

/// `tokenwatt report`: tokens, kWh, energy sources, cost, cost per million tokens,
/// cloud-equivalent, savings and unpriced tokens over a window, grouped by node, model, team,
/// provider or any label, and by hour, day, week or month with `--every`.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Costs and tokens over a period, grouped.",
        discussion: """
            A calendar period (day, week, month) is the one in --timezone that holds the moment before --to, from its start up to --to,
            as budgets count it: this month so far by default; --period month --to 2026-12-01T00:00:00+01:00 --timezone Europe/Berlin is November.
            A duration (6h, 30d) ends at --to. The ledger hours that start in the window count.
            csv has stable column names (see docs/cli.md); focus writes FOCUS 1.3 rows for tools that read cloud bills (a SKU per token type).
            """)

    @OptionGroup var aggregator: AggregatorOptions

    @Option(help: "day, week or month (calendar, in --timezone), or a duration such as 6h or 30d.")
    var period = "day"

    @Option(help: "The time zone of calendar periods and of --every day|week|month (IANA name).")
    var timezone = "UTC"

    @Option(help: "Start (RFC 3339 or Unix seconds); overrides --period.")
    var from: String?

    @Option(help: "End (RFC 3339 or Unix seconds; default now).")
    var to: String?

    @Option(help: "Group by these labels, comma-separated: node, model, team, provider, ... (focus: the labels written as Tags).")
    var by: String?

    @Option(help: "One row per hour, day, week or month.")
    var every: String?

    @Option(help: "table, csv, json or focus.")
    var format: ReportFormat = .table

    func run() async throws {
        guard let zone = TimeZone(identifier: timezone) else { throw ValidationError("--timezone expects an IANA time zone such as Europe/Berlin, got \(timezone)") }
        if let every, every != "hour", CalendarPeriod.Unit(rawValue: every) == nil {
            throw ValidationError("--every expects hour, day, week or month, got \(every)")
        }
        let window: (from: Int64, to: Int64)
        do {
            window = try ReportWindow.resolve(period: period, from: from, to: to, timezone: zone, now: TimeBounds.nowMilliseconds())
        } catch {
            throw ValidationError(error.description)
        }
        let labels = (by ?? (format == .focus ? "team,project" : "node")).split(separator: ",").map(String.init)
        // FOCUS rows are ledger streams: what a charge is comes first, the chosen labels are its tags.
        let grouping = format == .focus ? FOCUSExport.streamLabels + labels.filter { !FOCUSExport.streamLabels.contains($0) } : labels
        var query = [("from", String(Double(window.from) / 1000)), ("to", String(Double(window.to) / 1000)),
                     ("by", grouping.joined(separator: ",")), ("timezone", timezone)]
        if let every { query.append(("step", every)) }
        let response = try await APIClient.get(APIClient.url(aggregator.baseURL, "/api/v1/costs", query: query), aggregator, as: CostsResponse.self)
        let report = CostRows(window: window, labels: grouping, report: response)
        if response.groups.isEmpty {
            // On standard error, so that a CSV or JSON reader still gets a clean empty answer.
            FileHandle.standardError.write(Data("""
                no ledger hours in this window (\(TimeBounds.rfc3339(window.from)) to \(TimeBounds.rfc3339(window.to))): the aggregator \
                writes the hour in progress every costs.interval (a minute by default), so the first appears about a minute after \
                the first push; if agents have pushed for longer, check the window (--period, --from, --to) or /api/v1/fleet

                """.utf8))
        }
        switch format {
        case .table: print(report.table(), terminator: "")
        case .csv: print(report.csv(), terminator: "")
        case .json: print(Table.json(encoding: response), terminator: "")
        case .focus: print(report.focus(tags: labels), terminator: "")
        }
    }
}

/// How `tokenwatt report` prints.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, json, focus
}
