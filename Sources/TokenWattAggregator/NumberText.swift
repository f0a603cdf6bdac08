import Foundation

/// Numbers as people read them in the advisor's reasons and on the web overview: thousands
/// separated, and a small number with two significant digits rather than read as zero.
enum NumberText {
    static func grouped(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : value > 0 ? "∞" : "-∞" }
        var places = decimals
        if value != 0 && abs(value) < pow(10, -Double(decimals)) { places = Int(-floor(log10(abs(value)))) + 1 }
        let text = fixed(abs(value), places: places)
        let parts = text.split(separator: ".", maxSplits: 1)
        var whole = ""
        for (index, digit) in parts[0].reversed().enumerated() {
            if index > 0 && index % 3 == 0 { whole.append(",") }
            whole.append(digit)
        }
        let sign = value < 0 && text.contains(where: { $0 != "0" && $0 != "." }) ? "-" : ""
        return sign + String(whole.reversed()) + (parts.count > 1 ? "." + parts[1] : "")
    }

    /// A non-negative number with `places` decimals, rounded half away from zero; by integer
    /// arithmetic where it is exact (a page prints thousands), else by `String(format:)`.
    private static func fixed(_ value: Double, places: Int) -> String {
        guard places <= 9, value * pow(10, Double(places)) < 1e15 else { return String(format: "%.\(places)f", value) }
        let scale = Int64(pow(10, Double(places)))
        let scaled = Int64((value * Double(scale)).rounded())
        let whole = String(scaled / scale)
        guard places > 0 else { return whole }
        let fraction = String(scaled % scale)
        return whole + "." + String(repeating: "0", count: places - fraction.count) + fraction
    }

    /// A figure in a sentence: whole from 100, two decimals from 1, else three significant digits.
    static func reading(_ value: Double) -> String {
        guard abs(value) < 1, value != 0, value.isFinite else { return grouped(value, decimals: abs(value) >= 100 ? 0 : 2) }
        var text = grouped(value, decimals: Int(-floor(log10(abs(value)))) + 2)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }
}
