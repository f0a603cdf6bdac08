import Foundation
import Testing
import TokenWattCore
@testable import TokenWattAggregator

/// Times for a person and the charts' axes, by hand: the browser test checks the drawn pages,
/// these check the rules behind them case by case.
@Suite struct TimeTextTests {
    static let berlin = TimeText(zone: TimeZone(identifier: "Europe/Berlin")!)
    static let newYork = TimeText(zone: TimeZone(identifier: "America/New_York")!)

    @Test(arguments: [
        // 2026-12-07T14:55:02.123Z
        (TimeText.utc, 1_796_655_302_123, "7 Dec 2026, 14:55 UTC", "2026-12-07T14:55:02.123Z"),
        (TimeTextTests.berlin, 1_796_655_302_123, "7 Dec 2026, 15:55 Europe/Berlin", "2026-12-07T14:55:02.123Z"),
        // Midnight of 1 January 2027 in Berlin is 23:00 UTC the day before.
        (TimeTextTests.berlin, 1_798_758_000_000, "1 Jan 2027, 00:00 Europe/Berlin", "2026-12-31T23:00:00.000Z"),
        // Summer time in New York: UTC−4 on 1 July 2026, 12:00 UTC.
        (TimeTextTests.newYork, 1_782_907_200_000, "1 Jul 2026, 08:00 America/New_York", "2026-07-01T12:00:00.000Z"),
        // Before 1970, and a fraction under 100 ms.
        (TimeText.utc, -1_000 + 7, "31 Dec 1969, 23:59 UTC", "1969-12-31T23:59:59.007Z"),
    ] as [(TimeText, Int64, String, String)])
    func timesReadForAPersonWithTheExactInstantBeside(zone: TimeText, milliseconds: Int64, text: String, exact: String) {
        #expect(zone.text(milliseconds) == text)
        #expect(TimeText.exact(milliseconds) == exact)
        #expect(TimeBounds.milliseconds(fromRFC3339: exact) == milliseconds)
        #expect(HTML.time(milliseconds, zone) == "<time datetime=\"\(exact)\" title=\"\(exact)\">\(text)</time>")
    }

    static let day: Int64 = 86_400_000

    @Test(arguments: [
        // A UTC day: every 6 hours, its midnights as dates.
        (TimeText.utc, 1_796_601_600_000, 1_796_601_600_000 + day, ["7 Dec", "06:00", "12:00", "18:00", "8 Dec"]),
        // A week from Monday: each day.
        (TimeText.utc, 1_796_601_600_000, 1_796_601_600_000 + 7 * day, ["7 Dec", "8 Dec", "9 Dec", "10 Dec", "11 Dec", "12 Dec", "13 Dec", "14 Dec"]),
        // December in Berlin: a week apart, on Berlin's midnights.
        (TimeTextTests.berlin, 1_796_079_600_000, 1_798_758_000_000, ["1 Dec", "8 Dec", "15 Dec", "22 Dec", "29 Dec"]),
        // Half an hour, one round hour inside: its two ends.
        (TimeText.utc, 1_796_655_302_123, 1_796_655_302_123 + 1_800_000, ["14:55", "15:25"]),
        // Three hours from 14:55: each round hour.
        (TimeText.utc, 1_796_655_302_123, 1_796_655_302_123 + 3 * 3_600_000, ["15:00", "16:00", "17:00"]),
        // The day summer time ends in Berlin (25 hours): 6-hour ticks on the local clock.
        (TimeTextTests.berlin, 1_792_879_200_000, 1_792_969_200_000, ["25 Oct", "06:00", "12:00", "18:00", "26 Oct"]),
    ] as [(TimeText, Int64, Int64, [String])])
    func timeAxesTickOnTheZonesRoundHoursAndDays(zone: TimeText, from: Int64, to: Int64, labels: [String]) {
        let ticks = zone.ticks(from: from, to: to)
        #expect(ticks.map(\.label) == labels)
        #expect(ticks.allSatisfy { $0.time >= from && $0.time <= to })
        #expect(ticks.count <= 8)
    }
}

@Suite struct ChartTests {
    @Test(arguments: [
        (0.0, 1.0, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
        (20, 20, ["0", "5", "10", "15", "20"]),
        (21, 25, ["0", "5", "10", "15", "20", "25"]),
        (0.07, 0.08, ["0.00", "0.02", "0.04", "0.06", "0.08"]),
        (0.3, 0.3, ["0.0", "0.1", "0.2", "0.3"]),
        (50_000, 50_000, ["0", "10,000", "20,000", "30,000", "40,000", "50,000"]),
        (.nan, 1, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
        (-5, 1, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
    ] as [(Double, Double, [String])])
    func aValueAxisWritesAllItsNumbersAlike(value: Double, maximum: Double, labels: [String]) {
        let axis = Chart.ValueAxis(upTo: value, unit: "USD")
        #expect(abs(axis.maximum - maximum) < 1e-12)
        #expect(axis.labels.map(\.text) == labels)
    }

    /// The numbers a chart's SVG holds in an attribute of its elements with `class`.
    static func attribute(_ name: String, of elementClass: String, in svg: String) -> [Double] {
        svg.matches(of: try! Regex("<[a-z]+ class=\"\(elementClass)\"[^>]* \(name)=\"([-0-9.]+)\"")).compactMap { Double($0.output[1].substring ?? "") }
    }

    @Test func barsSitCentredOnTheirLabelsAndLabelsInsideTheDrawing() {
        let svg = Chart.bars("one day", categories: ["7 Dec"], series: [.init(name: "on-prem", color: "#000", values: [5]),
                                                                        .init(name: "cloud-equivalent", color: "#111", values: [3]),
                                                                        .init(name: "cloud spend", color: "#222", values: [0])], unit: "USD", time: true)
        let label = ChartTests.attribute("x", of: "x-label", in: svg)
        let bars = svg.matches(of: #/<rect x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)"/#).map { (Double($0.output.1)!, Double($0.output.2)!) }
        #expect(bars.count == 2, "the all-zero series is not drawn")
        #expect(svg.contains("cloud spend: none"))
        let centre = ((bars.first?.0 ?? 0) + (bars.last.map { $0.0 + $0.1 } ?? 0)) / 2
        #expect(label.count == 1 && abs(centre - label[0]) < 0.2, "bars centred at \(centre), label at \(label)")
        #expect(bars.allSatisfy { $0.1 <= 36 })
        #expect(svg.contains("data-axis=\"time\""))
        // The axis' labels: right-aligned at x, each reckoned no wider than the room left of it.
        let yLabels = svg.matches(of: #/class="y-label" x="([0-9.]+)"[^>]*>([^<]+)</#).map { (Double($0.output.1)!, String($0.output.2)) }
        #expect(yLabels.map(\.1) == ["0", "1", "2", "3", "4", "5"])
        #expect(yLabels.allSatisfy { $0.0 - Chart.textWidth($0.1, size: 11) >= 0 })
    }

    @Test func manyCategoriesLabelOnlyEveryFewWithoutOverlap() {
        let hours = (0..<24).map { String(format: "%02d:00", $0) }
        let svg = Chart.bars("a day", categories: hours, series: [.init(name: "kWh", color: "#000", values: (0..<24).map(Double.init))], unit: "kWh", time: true)
        let xs = ChartTests.attribute("x", of: "x-label", in: svg)
        #expect(xs.count >= 2 && xs.count < 24)
        #expect(zip(xs, xs.dropFirst()).allSatisfy { $1 - $0 >= Chart.textWidth("00:00", size: 11) + 10 })
    }

    @Test func aBurnDownHasATimeAxisInItsBudgetsZone() {
        let start: Int64 = 1_796_079_600_000, end: Int64 = 1_798_758_000_000  // December in Berlin
        let svg = Chart.burnDown("burn", start: start, end: end, now: start + 6 * 86_400_000, cumulative: [(start + 6 * 86_400_000, 400)], limit: 1_000,
                                 thresholds: [0.8], forecast: 2_100, unit: "USD", time: TimeTextTests.berlin)
        let labels = svg.matches(of: #/class="x-label"[^>]*>([^<]+)</#).map { String($0.output.1) }
        #expect(labels == ["1 Dec", "8 Dec", "15 Dec", "22 Dec", "29 Dec"])
        let xs = ChartTests.attribute("x", of: "x-label", in: svg)
        #expect(xs.allSatisfy { $0 - Chart.textWidth("29 Dec", size: 11) / 2 >= 0 && $0 + Chart.textWidth("29 Dec", size: 11) / 2 <= Chart.width })
        #expect(svg.contains("by 1 Jan 2027, 00:00 Europe/Berlin"))
    }

    @Test func longRowLabelsAreCutShortWithTheWholeInTheirTitle() {
        let long = "meta-llama/Llama-3.1-405B-Instruct-FP8-dynamic-with-a-very-long-fine-tune-name"
        let svg = Chart.horizontalBars("cost", rows: [(long, [0.035, 8.26, 0.15]), ("qwen", [nil, 1, 2])],
                                       series: [("marginal", "#000"), ("average", "#111"), ("cloud", "#222")], unit: "USD per M tokens")
        #expect(svg.contains("<title>\(long)</title>"))
        #expect(svg.contains("…"))
        // One format for the values: enough decimals for the smallest.
        let values = svg.matches(of: #/font-size="11" fill="#5d6778">([0-9.,]+)</#).map { String($0.output.1) }
        #expect(values == ["0.035", "8.260", "0.150", "1.000", "2.000"])
        #expect(svg.contains("USD per M tokens"))
    }
}
