import Foundation
import TokenWattAPI

/// Rows of text printed as an aligned table, CSV or JSON.
struct Table {
    let columns: [String]
    var rows: [[String]] = []

    func render(_ format: OutputFormat, json: @autoclosure () -> String) -> String {
        switch format {
        case .json: json()
        case .csv: csv
        case .table: text
        }
    }

    var csv: String {
        ([columns] + rows).map { $0.map(Table.csvField).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// Aligned columns: text left, numbers right.
    var text: String {
        let widths = columns.indices.map { index in ([columns] + rows).map { $0[index].count }.max() ?? 0 }
        return ([columns] + rows).map { row in
            row.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return index == 0 || Double(cell.replacingOccurrences(of: ",", with: "")) == nil && cell != "-" ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// The value as indented JSON with sorted keys, as the API writes it.
    static func json(encoding value: some Encodable) -> String {
        let encoder = APIJSON.encoder()
        encoder.outputFormatting.insert(.prettyPrinted)
        let data = (try? encoder.encode(value)) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func csvField(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    static func number(_ value: Double?, decimals: Int = 2) -> String {
        guard let value else { return "-" }
        // A small amount keeps two significant digits instead of reading as zero (an hour of a
        // small VM's estimated energy is a fraction of a cent).
        guard value == 0 || !value.isFinite || abs(value) >= pow(10, -Double(decimals)) else {
            return String(format: "%.\(Int(-floor(log10(abs(value)))) + 1)f", value)
        }
        return String(format: "%.\(decimals)f", value)
    }
}
