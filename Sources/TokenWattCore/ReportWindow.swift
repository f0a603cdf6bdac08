import Foundation

/// The window a report covers, `[from, to)` in ms: `tokenwatt report`'s `--period`, `--from`,
/// `--to` and `--timezone`. A calendar period (`day`, `week`, `month`) is the one holding the
/// last moment before `to`, as budgets count it, from its start up to `to`: this month so far
/// by default, and a whole month when `to` is its end. A duration (`6h`, `30d`) ends at `to`.
/// `from` overrides the period.
public enum ReportWindow {
    /// A command-line value that names no window; the message says what was expected.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public static func resolve(period: String, from: String?, to: String?, timezone: TimeZone, now: Int64) throws(Invalid) -> (from: Int64, to: Int64) {
        let end = try to.map { text throws(Invalid) in try time(text, name: "--to") } ?? now
        let start: Int64
        if let from {
            start = try time(from, name: "--from")
        } else if let unit = CalendarPeriod.Unit(rawValue: period) {
            start = CalendarPeriod(unit, timezone: timezone).bounds(at: end - 1).start
        } else if let duration = ConfigDuration.milliseconds(period), duration > 0 {
            start = end - duration
        } else {
            throw Invalid("--period expects day, week, month or a duration such as 6h or 30d, got \"\(period)\"")
        }
        guard start < end else { throw Invalid("the report's start must come before its end") }
        return (start, end)
    }

    private static func time(_ text: String, name: String) throws(Invalid) -> Int64 {
        guard let milliseconds = TimeBounds.milliseconds(parsing: text) else {
            throw Invalid("\(name) expects Unix seconds or an RFC 3339 time such as 2026-12-01T11:00:00+01:00, got \"\(text)\"")
        }
        return milliseconds
    }
}
