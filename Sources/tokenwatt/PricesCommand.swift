import ArgumentParser
import Foundation
import TokenWattConfiguration
import TokenWattCore

/// `tokenwatt prices [--config FILE]`: the cloud prices the cost ledger applies, first match
/// wins: a config's `cloud_prices` entries, then (in USD) the built-in list with the day each
/// price was taken and the page it was taken from.
struct PricesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prices", abstract: "The cloud prices per million tokens that apply, built-in and configured.")

    @Option(help: "An aggregator config whose cloud_prices come first.")
    var config: String?

    @Option(help: "table, csv or json.")
    var format: OutputFormat = .table

    func run() async throws {
        var pricing = Pricing()
        if let config {
            do {
                pricing = try AggregatorConfiguration.load(file: config).pricing
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        var rows: [[String: String]] = pricing.cloudPrices.map { price in
            PricesCommand.row(price, provider: "", from: price.from.map(PricesCommand.day) ?? "", source: config ?? "", currency: pricing.currency)
        }
        if pricing.currency == BuiltInPrice.currency {
            rows += pricing.builtInPrices.map { entry in
                PricesCommand.row(entry.price, provider: entry.provider, from: "", source: "built-in, taken \(PricesCommand.day(entry.taken)) from \(entry.source)",
                                  currency: BuiltInPrice.currency)
            }
        }
        let columns = ["model", "provider", "input", "cached_input", "output", "currency", "from", "source"]
        var table = Table(columns: columns)
        table.rows = rows.map { row in columns.map { row[$0] ?? "" } }
        print(table.render(format, json: Table.json(encoding: rows)), terminator: "")
    }

    static func row(_ price: Pricing.CloudPrice, provider: String, from: String, source: String, currency: String) -> [String: String] {
        ["model": price.model.value, "provider": provider, "input": plain(price.input), "cached_input": plain(price.cachedInput),
         "output": plain(price.output), "currency": currency, "from": from, "source": source]
    }

    static func plain(_ value: Double) -> String {
        String(format: "%.4f", value).replacingOccurrences(of: #"0{1,2}$"#, with: "", options: .regularExpression)
    }

    static func day(_ milliseconds: Int64) -> String {
        String(TimeBounds.rfc3339(milliseconds).prefix(10))
    }
}
