import Foundation

/// Numbers as people read them in the advisor's reasons and on the web overview: thousands
/// separated, and a small number with two significant digits rather than read as zero.
enum NumberText {
    static func grouped(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : value > 0 ? "∞" : "-∞" }
        var places = decimals
        if value != 0 && abs(value) < pow(10, -Double(decimals)) { places = Int(-floor(log10(abs(value)))) + 1 }
        let text = String(format: "%.\(places)f", abs(value))
        let parts = text.split(separator: ".", maxSplits: 1)
        var whole = ""
        for (index, digit) in parts[0].reversed().enumerated() {
            if index > 0 && index % 3 == 0 { whole.append(",") }
            whole.append(digit)
        }
        let sign = value < 0 && text.contains(where: { $0 != "0" && $0 != "." }) ? "-" : ""
        return sign + String(whole.reversed()) + (parts.count > 1 ? "." + parts[1] : "")
    }

    /// A figure in a sentence: whole from 100, two decimals from 1, else three significant digits.
    static func reading(_ value: Double) -> String {
        guard abs(value) < 1, value != 0, value.isFinite else { return grouped(value, decimals: abs(value) >= 100 ? 0 : 2) }
        var text = grouped(value, decimals: Int(-floor(log10(abs(value)))) + 2)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }
}
