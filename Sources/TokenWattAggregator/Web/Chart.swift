import Foundation

/// Charts drawn as SVG on the server: bars by category, a budget's burn-down, and horizontal
/// bars. Each mark has a `<title>` with its exact value (a tooltip, without script). Every label
/// lies inside the drawing (its width reckoned from its text), a value axis writes all its
/// numbers alike and names its unit, and a time axis (`data-axis="time"`) labels its ticks.
enum Chart {
    struct Series {
        var name: String
        var color: String
        var values: [Double]
    }

    static let width = 900.0
    static let muted = "#5d6778"

    /// How wide `text` runs at `size` px of the pages' sans-serif, reckoned generously (digits
    /// and most letters are narrower), so a label placed by it stays inside the drawing.
    static func textWidth(_ text: String, size: Double) -> Double {
        Double(text.count) * size * 0.62
    }

    /// A value axis from zero up to a round maximum in steps of 1, 2 or 5 × 10ⁿ; every label
    /// with the decimals the step needs, so `0`, `5`, `10` or `0.00`, `0.05`, `0.10`.
    struct ValueAxis {
        let maximum: Double
        let step: Double
        let decimals: Int
        let unit: String

        init(upTo value: Double, unit: String) {
            let top = value.isFinite && value > 0 ? value : 1
            step = Chart.niceCeiling(top / 5)
            maximum = step * max(1, (top / step - 1e-9).rounded(.up))
            decimals = max(0, -Int((log10(step) + 1e-9).rounded(.down)))
            self.unit = unit
        }

        var labels: [(value: Double, text: String)] {
            (0...Int((maximum / step).rounded())).map { index in
                let value = Double(index) * step
                return (value, NumberText.grouped(value, decimals: decimals))
            }
        }

        /// Room left of the plot for the widest label.
        var labelWidth: Double { (labels.map { Chart.textWidth($0.text, size: 11) }.max() ?? 0) + 14 }

        /// The grid lines and their labels, right-aligned against `left`, the unit above them.
        func draw(left: Double, top: Double, plotHeight: Double) -> String {
            labels.map { label -> String in
                let y = top + plotHeight - label.value / maximum * plotHeight
                return "<line x1=\"\(Chart.f(left))\" x2=\"\(Chart.f(Chart.width - 10))\" y1=\"\(Chart.f(y))\" y2=\"\(Chart.f(y))\" stroke=\"#eef1f5\"/>"
                    + "<text class=\"y-label\" x=\"\(Chart.f(left - 6))\" y=\"\(Chart.f(y + 4))\" text-anchor=\"end\" font-size=\"11\" fill=\"\(Chart.muted)\">\(HTML.escape(label.text))</text>"
            }.joined() + "<text class=\"unit\" x=\"4\" y=\"12\" font-size=\"11\" fill=\"\(Chart.muted)\">\(HTML.escape(unit))</text>"
        }
    }

    /// A label under the plot centred on `x`, moved inside the drawing where it would cross an edge.
    private static func xLabel(_ text: String, at x: Double, y: Double) -> String {
        let half = textWidth(text, size: 11) / 2
        let centre = min(max(x, half + 2), width - half - 2)
        return "<text class=\"x-label\" x=\"\(f(centre))\" y=\"\(f(y))\" text-anchor=\"middle\" font-size=\"11\" fill=\"\(muted)\">\(HTML.escape(text))</text>"
    }

    /// Bars side by side for each category (a day, an hour), one per series, the group centred
    /// on its label; a series that is zero throughout is named in the legend, not drawn.
    /// `time`: the categories are consecutive times, in order.
    static func bars(_ label: String, categories: [String], series: [Series], unit: String, time: Bool = false) -> String {
        let height = 230.0, bottom = 28.0, top = 22.0
        let drawn = series.filter { $0.values.contains { $0 != 0 } }
        let axis = ValueAxis(upTo: drawn.flatMap(\.values).max() ?? 0, unit: unit)
        let left = axis.labelWidth
        let plotWidth = width - left - 10, plotHeight = height - top - bottom
        let slot = plotWidth / Double(max(categories.count, 1))
        let barWidth = max(1, min(36, slot * 0.8 / Double(max(drawn.count, 1))))
        var svg = open(label, height: height, time: time) + axis.draw(left: left, top: top, plotHeight: plotHeight)
        // Every label, or every few where they would run into each other.
        let widest = categories.map { textWidth($0, size: 11) }.max() ?? 0
        let every = max(1, Int(((widest + 10) / slot).rounded(.up)))
        for (index, category) in categories.enumerated() {
            let centre = left + (Double(index) + 0.5) * slot
            let groupStart = centre - barWidth * Double(drawn.count) / 2
            for (position, item) in drawn.enumerated() where index < item.values.count {
                let value = item.values[index]
                let barHeight = max(0, value) / axis.maximum * plotHeight
                svg += "<rect x=\"\(f(groupStart + Double(position) * barWidth))\" y=\"\(f(top + plotHeight - barHeight))\" width=\"\(f(barWidth))\" "
                    + "height=\"\(f(barHeight))\" fill=\"\(item.color)\"><title>\(HTML.escape("\(category) · \(item.name): \(NumberText.grouped(value, decimals: 2)) \(unit)"))</title></rect>"
            }
            if index % every == 0 { svg += xLabel(category, at: centre, y: height - 10) }
        }
        return svg + "</svg>" + legend(series.map { item in
            (drawn.contains { $0.name == item.name } ? item.name : "\(item.name): none", item.color)
        }) + "</div>"
    }

    /// Spent so far in a period against its limit: the spend line, dashed thresholds, the
    /// limit, and the forecast from now to the period's end, over a time axis in `time`'s zone.
    static func burnDown(_ label: String, start: Int64, end: Int64, now: Int64, cumulative: [(time: Int64, spent: Double)],
                         limit: Double, thresholds: [Double], forecast: Double?, unit: String, time: TimeText) -> String {
        let height = 200.0, bottom = 28.0, top = 22.0
        let axis = ValueAxis(upTo: max(limit, forecast ?? 0, cumulative.last?.spent ?? 0) * 1.05, unit: unit)
        let left = axis.labelWidth
        let plotWidth = width - left - 10, plotHeight = height - top - bottom
        func x(_ moment: Int64) -> Double { left + Double(min(max(moment, start), end) - start) / Double(max(end - start, 1)) * plotWidth }
        func y(_ value: Double) -> Double { top + plotHeight - min(value, axis.maximum) / axis.maximum * plotHeight }
        var svg = open(label, height: height, time: true) + axis.draw(left: left, top: top, plotHeight: plotHeight)
        for tick in time.ticks(from: start, to: end) {
            svg += "<line x1=\"\(f(x(tick.time)))\" x2=\"\(f(x(tick.time)))\" y1=\"\(f(top + plotHeight))\" y2=\"\(f(top + plotHeight + 4))\" stroke=\"\(muted)\"/>"
                + xLabel(tick.label, at: x(tick.time), y: height - 8)
        }
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
                + "stroke-width=\"2\" stroke-dasharray=\"6 4\"><title>\(HTML.escape("forecast \(NumberText.grouped(forecast, decimals: 2)) \(unit) by \(time.text(end))"))</title></line>"
        }
        svg += "<line x1=\"\(f(x(now)))\" x2=\"\(f(x(now)))\" y1=\"\(f(top))\" y2=\"\(f(top + plotHeight))\" stroke=\"#9aa3b2\"><title>now, \(HTML.escape(time.text(now)))</title></line>"
        return svg + "</svg>" + legend([("spent", "#2f7d5b"), ("forecast", "#3d6fb6"), ("limit", "#b83a3a"), ("thresholds", "#c77d12")]) + "</div>"
    }

    /// One horizontal bar per row, grouped: a row's several values under its label, each bar
    /// with its value written after it, all with the same decimals; the unit above the bars. A
    /// label too long for its room is cut short, whole in its `<title>`.
    static func horizontalBars(_ label: String, rows: [(label: String, values: [Double?])], series: [(name: String, color: String)], unit: String) -> String {
        let rowHeight = 16.0 * Double(series.count) + 14, top = 22.0
        let height = top + rowHeight * Double(rows.count) + 6
        let values = rows.flatMap { $0.values.compactMap { $0 } }
        let maximum = niceCeiling(values.max() ?? 0)
        // Enough decimals for the smallest figure's two leading digits, between 2 and 4.
        let smallest = values.filter { $0 > 0 }.min() ?? 1
        let decimals = min(4, max(2, 1 - Int(log10(smallest).rounded(.down))))
        let texts = values.map { NumberText.grouped($0, decimals: decimals) }
        let valueWidth = (texts.map { textWidth($0, size: 11) }.max() ?? 0) + 10
        let longest = 300.0
        let left = min(longest, (rows.map { textWidth($0.label, size: 12) }.max() ?? 0)) + 16
        let room = width - left - valueWidth
        var svg = open(label, height: height, time: false)
            + "<text class=\"unit\" x=\"\(f(left))\" y=\"12\" font-size=\"11\" fill=\"\(muted)\">\(HTML.escape(unit))</text>"
        for (index, row) in rows.enumerated() {
            let rowTop = top + Double(index) * rowHeight
            var shown = row.label
            while textWidth(shown, size: 12) > longest, shown.count > 2 { shown = String(shown.dropLast(2)) + "…" }
            svg += "<text x=\"\(f(left - 8))\" y=\"\(f(rowTop + 14))\" text-anchor=\"end\" font-size=\"12\" fill=\"#1d2430\">"
                + (shown == row.label ? "" : "<title>\(HTML.escape(row.label))</title>") + "\(HTML.escape(shown))</text>"
            for (position, value) in row.values.enumerated() where position < series.count {
                guard let value else { continue }
                let barWidth = max(0, value) / maximum * room
                let y = rowTop + Double(position) * 16
                svg += "<rect x=\"\(f(left))\" y=\"\(f(y))\" width=\"\(f(max(barWidth, 1)))\" height=\"13\" fill=\"\(series[position].color)\">"
                    + "<title>\(HTML.escape("\(row.label) · \(series[position].name): \(NumberText.grouped(value, decimals: 4)) \(unit)"))</title></rect>"
                svg += "<text x=\"\(f(left + barWidth + 6))\" y=\"\(f(y + 11))\" font-size=\"11\" fill=\"\(muted)\">\(HTML.escape(NumberText.grouped(value, decimals: decimals)))</text>"
            }
        }
        return svg + "</svg>" + legend(series) + "</div>"
    }

    private static func open(_ label: String, height: Double, time: Bool) -> String {
        "<div class=\"chart\"><svg viewBox=\"0 0 \(f(width)) \(f(height))\"\(time ? " data-axis=\"time\"" : "") role=\"img\" aria-label=\"\(HTML.escape(label))\">"
            + "<title>\(HTML.escape(label))</title>"
    }

    private static func legend(_ items: [(String, String)]) -> String {
        "<div class=\"legend\">" + items.map { "<span><i class=\"swatch\" style=\"background:\($0.1)\"></i>\(HTML.escape($0.0))</span>" }.joined() + "</div>"
    }

    /// The next 1, 2 or 5 × 10ⁿ at or above `value` (an axis' top).
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        let power = pow(10, floor(log10(value)))
        return [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= value * (1 - 1e-12) } ?? 10 * power
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
