import Foundation
import TokenWattCore

/// Times as a person reads them (`7 Dec 2026, 14:55 UTC`) in a time zone (UTC, or a budget's
/// own), for the pages and the alerts' summaries; the exact instant as the API writes it; and the
/// ticks of a chart's time axis, on the zone's hours and days.
struct TimeText: Sendable {
    let zone: TimeZone

    static let utc = TimeText(zone: TimeZone(identifier: "UTC")!)
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        return calendar
    }

    /// `UTC`, or the zone's name (`Europe/Berlin`).
    var zoneName: String { zone.secondsFromGMT() == 0 && ["UTC", "GMT"].contains(zone.identifier) ? "UTC" : zone.identifier }

    /// `7 Dec 2026, 14:55 UTC`.
    func text(_ milliseconds: Int64) -> String {
        "\(date(milliseconds, withYear: true)), \(clock(milliseconds)) \(zoneName)"
    }

    /// `7 Dec`, or `7 Dec 2026`.
    func date(_ milliseconds: Int64, withYear: Bool = false) -> String {
        let local = self.local(milliseconds)
        return "\(local.day) \(TimeText.months[Int(local.month) - 1])" + (withYear ? " \(local.year)" : "")
    }

    /// `14:05`.
    func clock(_ milliseconds: Int64) -> String {
        let local = self.local(milliseconds)
        return UTCTime.two(local.hour) + ":" + UTCTime.two(local.minute)
    }

    /// The zone's wall clock at an instant, by arithmetic (a table of many rows stays quick).
    private func local(_ milliseconds: Int64) -> UTCTime {
        let offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
        return UTCTime(milliseconds: milliseconds + Int64(offset) * 1000)
    }

    /// `2026-12-07T14:55:02.123Z`, as the API writes instants (by arithmetic: a table of many rows stays quick).
    static func exact(_ milliseconds: Int64) -> String {
        let time = UTCTime(milliseconds: milliseconds), fraction = milliseconds.modulo(1000)
        return "\(time.year)-\(UTCTime.two(time.month))-\(UTCTime.two(time.day))T\(UTCTime.two(time.hour)):\(UTCTime.two(time.minute)):"
            + "\(UTCTime.two(time.second)).\(fraction < 100 ? "0" : "")\(UTCTime.two(fraction))Z"
    }

    /// Ticks for a time axis over `[from, to]` (ms): the finest of 1, 2, 3, 6 or 12 hours, 1, 2, 7
    /// or 14 days, or 1 or 3 months that gives at most `most`, on the zone's round hours and
    /// midnights; hours read `14:00` (a midnight its date), days and months their date. A span
    /// too short for two such ticks gets its two ends.
    func ticks(from: Int64, to: Int64, most: Int = 8) -> [(time: Int64, label: String)] {
        let steps: [(Calendar.Component, Int)] = [(.hour, 1), (.hour, 2), (.hour, 3), (.hour, 6), (.hour, 12), (.day, 1), (.day, 2), (.day, 7), (.day, 14),
                                                  (.month, 1), (.month, 3)]
        let calendar = calendar
        let start = Date(timeIntervalSince1970: Double(from) / 1000), end = Date(timeIntervalSince1970: Double(to) / 1000)
        for (unit, count) in steps {
            // The first tick: the start's hour (or day, or month) rounded up.
            let truncated: Set<Calendar.Component> = unit == .hour ? [.year, .month, .day, .hour] : unit == .day ? [.year, .month, .day] : [.year, .month]
            guard var tick = calendar.date(from: calendar.dateComponents(truncated, from: start)) else { continue }
            if tick < start { tick = calendar.date(byAdding: unit, value: 1, to: tick) ?? end }
            var ticks: [Date] = []
            // Hours go by the wall clock (each hour, kept where it is a multiple of the step), so
            // the day a clock goes back still ticks at 06:00 and 12:00.
            while tick <= end, ticks.count <= most {
                if unit != .hour || calendar.component(.hour, from: tick) % count == 0 { ticks.append(tick) }
                guard let next = calendar.date(byAdding: unit, value: unit == .hour ? 1 : count, to: tick) else { break }
                tick = next
            }
            guard ticks.count <= most else { continue }
            guard ticks.count >= 2 else { break }
            return ticks.map { date in
                let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
                let midnight = calendar.component(.hour, from: date) == 0 && calendar.component(.minute, from: date) == 0
                return (milliseconds, unit == .hour && !midnight ? clock(milliseconds) : self.date(milliseconds))
            }
        }
        // Too short for two round ticks: its ends.
        let label = to - from < 2 * 86_400_000 ? clock : { self.date($0) }
        return [(from, label(from)), (to, label(to))]
    }
}
