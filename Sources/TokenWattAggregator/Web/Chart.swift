import Foundation

/// Charts drawn as SVG on the server: bars by category, a budget's burn-down, and horizontal
/// bars. Each mark has a `<title>` with its exact value (a tooltip, without script).
enum Chart {
    struct Series {
        var name: String
        var color: String
        var values: [Double]
    }

    static let width = 900.0

    /// Bars side by side for each category (a day, an hour), one per series.
    static func bars(_ label: String, categories: [String], series: [Series], unit: String) -> String {
        let height = 230.0, bottom = 28.0, top = 22.0
        let maximum = niceCeiling(series.flatMap(\.values).max() ?? 0)
        let left = axisWidth(maximum)
        let plotWidth = width - left - 10, plotHeight = height - top - bottom
        let slot = plotWidth / Double(max(categories.count, 1))
        let barWidth = max(1, slot * 0.8 / Double(max(series.count, 1)))
        var svg = open(label, height: height) + axis(maximum: maximum, left: left, top: top, plotHeight: plotHeight, unit: unit)
        // Category labels: at most about twelve, evenly spread.
        let every = max(1, categories.count / 12)
        for (index, category) in categories.enumerated() {
            let x = left + Double(index) * slot
            for (position, item) in series.enumerated() where index < item.values.count {
                let value = item.values[index]
                let barHeight = maximum > 0 ? max(0, value) / maximum * plotHeight : 0
                svg += "<rect x=\"\(f(x + slot * 0.1 + Double(position) * barWidth))\" y=\"\(f(top + plotHeight - barHeight))\" width=\"\(f(barWidth))\" "
                    + "height=\"\(f(barHeight))\" fill=\"\(item.color)\"><title>\(HTML.escape("\(category) · \(item.name): \(NumberText.grouped(value, decimals: 2)) \(unit)"))</title></rect>"
            }
            if index % every == 0 {
                svg += "<text x=\"\(f(x + slot / 2))\" y=\"\(f(height - 10))\" text-anchor=\"middle\" font-size=\"11\" fill=\"#5d6778\">\(HTML.escape(category))</text>"
            }
        }
        return svg + "</svg>" + legend(series.map { ($0.name, $0.color) }) + "</div>"
    }

    /// Spent so far in a period against its limit: the spend line, dashed thresholds, the
    /// limit, and the forecast from now to the period's end.
    static func burnDown(_ label: String, start: Int64, end: Int64, now: Int64, cumulative: [(time: Int64, spent: Double)],
                         limit: Double, thresholds: [Double], forecast: Double?, unit: String) -> String {
        let height = 190.0, bottom = 24.0, top = 22.0
        let maximum = niceCeiling(max(limit, forecast ?? 0, cumulative.last?.spent ?? 0) * 1.05)
        let left = axisWidth(maximum)
        let plotWidth = width - left - 10, plotHeight = height - top - bottom
        func x(_ time: Int64) -> Double { left + Double(min(max(time, start), end) - start) / Double(max(end - start, 1)) * plotWidth }
        func y(_ value: Double) -> Double { top + plotHeight - (maximum > 0 ? min(value, maximum) / maximum * plotHeight : 0) }
        var svg = open(label, height: height) + axis(maximum: maximum, left: left, top: top, plotHeight: plotHeight, unit: unit)
        for threshold in thresholds where threshold < 1 {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(y(limit * threshold)))\" y2=\"\(f(y(limit * threshold)))\" stroke=\"#c77d12\" "
                + "stroke-dasharray=\"4 4\"><title>\(HTML.escape("\(Int(threshold * 100)) % of the limit"))</title></line>"
        }
        svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(y(limit)))\" y2=\"\(f(y(limit)))\" stroke=\"#b83a3a\" stroke-width=\"2\">"
            + "<title>\(HTML.escape("limit \(NumberText.grouped(limit, decimals: 2)) \(unit)"))</title></line>"
        let points = [(start, 0.0)] + cumulative.map { ($0.time, $0.spent) }
        svg += "<polyline fill=\"none\" stroke=\"#2f7d5b\" stroke-width=\"2\" points=\"\(points.map { "\(f(x($0.0))),\(f(y($0.1)))" }.joined(separator: " "))\">"
            + "<title>\(HTML.escape("spent \(NumberText.grouped(cumulative.last?.spent ?? 0, decimals: 2)) \(unit)"))</title></polyline>"
        if let forecast, let last = cumulative.last {
            svg += "<line x1=\"\(f(x(max(last.time, now))))\" y1=\"\(f(y(last.spent)))\" x2=\"\(f(x(end)))\" y2=\"\(f(y(forecast)))\" stroke=\"#3d6fb6\" "
                + "stroke-width=\"2\" stroke-dasharray=\"6 4\"><title>\(HTML.escape("forecast \(NumberText.grouped(forecast, decimals: 2)) \(unit)"))</title></line>"
        }
        svg += "<line x1=\"\(f(x(now)))\" x2=\"\(f(x(now)))\" y1=\"\(f(top))\" y2=\"\(f(top + plotHeight))\" stroke=\"#9aa3b2\"><title>now</title></line>"
        return svg + "</svg>" + legend([("spent", "#2f7d5b"), ("forecast", "#3d6fb6"), ("limit", "#b83a3a"), ("thresholds", "#c77d12")]) + "</div>"
    }

    /// One horizontal bar per row, grouped: a row's several values under its label.
    static func horizontalBars(_ label: String, rows: [(label: String, values: [Double?])], series: [(name: String, color: String)], unit: String) -> String {
        let rowHeight = 16.0 * Double(series.count) + 14, left = 220.0
        let height = rowHeight * Double(rows.count) + 10
        let maximum = niceCeiling(rows.flatMap { $0.values.compactMap { $0 } }.max() ?? 0)
        var svg = open(label, height: height)
        for (index, row) in rows.enumerated() {
            let top = 5 + Double(index) * rowHeight
            svg += "<text x=\"\(f(left - 8))\" y=\"\(f(top + 14))\" text-anchor=\"end\" font-size=\"12\" fill=\"#1d2430\">\(HTML.escape(row.label))</text>"
            for (position, value) in row.values.enumerated() where position < series.count {
                guard let value else { continue }
                let barWidth = maximum > 0 ? max(0, value) / maximum * (width - left - 120) : 0
                let y = top + Double(position) * 16
                svg += "<rect x=\"\(f(left))\" y=\"\(f(y))\" width=\"\(f(max(barWidth, 1)))\" height=\"13\" fill=\"\(series[position].color)\">"
                    + "<title>\(HTML.escape("\(row.label) · \(series[position].name): \(NumberText.grouped(value, decimals: 4)) \(unit)"))</title></rect>"
                svg += "<text x=\"\(f(left + barWidth + 6))\" y=\"\(f(y + 11))\" font-size=\"11\" fill=\"#5d6778\">\(HTML.escape(NumberText.grouped(value, decimals: 4)))</text>"
            }
        }
        return svg + "</svg>" + legend(series) + "</div>"
    }

    private static func open(_ label: String, height: Double) -> String {
        "<div class=\"chart\"><svg viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\" aria-label=\"\(HTML.escape(label))\"><title>\(HTML.escape(label))</title>"
    }

    private static func axis(maximum: Double, left: Double, top: Double, plotHeight: Double, unit: String) -> String {
        (0...4).map { step -> String in
            let value = maximum * Double(step) / 4
            let y = top + plotHeight - Double(step) / 4 * plotHeight
            return "<line x1=\"\(f(left))\" x2=\"\(f(width - 10))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#eef1f5\"/>"
                + "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\" font-size=\"11\" fill=\"#5d6778\">\(HTML.escape(NumberText.grouped(value, decimals: value < 10 ? 2 : 0)))</text>"
        }.joined() + "<text x=\"4\" y=\"12\" font-size=\"11\" fill=\"#5d6778\">\(HTML.escape(unit))</text>"
    }

    /// Room for the axis' widest label.
    private static func axisWidth(_ maximum: Double) -> Double {
        Double(NumberText.grouped(maximum, decimals: maximum < 10 ? 2 : 0).count) * 7 + 14
    }

    private static func legend(_ items: [(String, String)]) -> String {
        "<div class=\"legend\">" + items.map { "<span><i class=\"swatch\" style=\"background:\($0.1)\"></i>\(HTML.escape($0.0))</span>" }.joined() + "</div>"
    }

    /// The next 1, 2 or 5 × 10ⁿ at or above `value` (an axis' top).
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        let power = pow(10, floor(log10(value)))
        return [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= value } ?? 10 * power
    }

    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
