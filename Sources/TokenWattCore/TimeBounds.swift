import Foundation

/// The times and durations TokenWatt takes from outside (query parameters, pushed and scraped
/// timestamps, usage reports, configuration): RFC 3339's years 0001 to 9999, in milliseconds
/// since the Unix epoch. Everything a client sends is checked against these bounds before any
/// arithmetic, so sums and differences of two checked values cannot overflow `Int64`.
public enum TimeBounds {
    /// 0001-01-01T00:00:00Z.
    public static let earliestMs: Int64 = -62_135_596_800_000
    /// 9999-12-31T23:59:59.999Z.
    public static let latestMs: Int64 = 253_402_300_799_999
    /// The longest duration accepted: the whole span (about 10,000 years).
    public static let longestMs: Int64 = latestMs - earliestMs

    /// Whether a time in milliseconds is within the bounds.
    /// The time now, in milliseconds since the epoch (what timestamps, budgets and leases use).
    public static func nowMilliseconds() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1000)
    }

    public static func contains(_ milliseconds: Int64) -> Bool {
        (earliestMs...latestMs).contains(milliseconds)
    }

    /// Seconds (possibly fractional) as milliseconds; nil when not finite or out of bounds.
    public static func milliseconds(fromSeconds seconds: Double) -> Int64? {
        guard seconds.isFinite else { return nil }
        let milliseconds = (seconds * 1000).rounded()
        // Compared as Double before converting: converting an out-of-range Double traps.
        guard milliseconds >= Double(earliestMs), milliseconds <= Double(latestMs) else { return nil }
        return Int64(milliseconds)
    }

    /// An RFC 3339 time (`2026-12-01T11:00:00+01:00`, fractional seconds allowed) in ms; nil
    /// when it is not one or is out of bounds.
    public static func milliseconds(fromRFC3339 text: String) -> Int64? {
        guard let date = (try? Date(text, strategy: .iso8601))
                ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) else { return nil }
        return milliseconds(fromSeconds: date.timeIntervalSince1970)
    }

    /// Milliseconds as RFC 3339 to the second, in `zone` with its offset at that moment
    /// (`2027-01-01T00:00:00+01:00`; `Z` for UTC). Foundation's ISO 8601 style writes offsets
    /// without the colon RFC 3339 requires.
    public static func rfc3339(_ milliseconds: Int64, in zone: TimeZone = TimeZone(identifier: "UTC")!) -> String {
        let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let offset = zone.secondsFromGMT(for: date) / 60
        let suffix = offset == 0 ? "Z" : String(format: "%@%02d:%02d", offset < 0 ? "-" : "+", abs(offset) / 60, abs(offset) % 60)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
                      parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0) + suffix
    }

    /// Unix seconds (possibly fractional) or an RFC 3339 time, as the query API and the CLI take
    /// times, in ms; nil when it is neither or is out of bounds.
    public static func milliseconds(parsing text: String) -> Int64? {
        if let seconds = Double(text) { return milliseconds(fromSeconds: seconds) }
        return milliseconds(fromRFC3339: text)
    }

    /// A duration in seconds (possibly fractional) as milliseconds; nil unless finite, not
    /// negative and at most `longestMs`.
    public static func durationMilliseconds(fromSeconds seconds: Double) -> Int64? {
        guard seconds.isFinite, seconds >= 0 else { return nil }
        let milliseconds = (seconds * 1000).rounded()
        guard milliseconds <= Double(longestMs) else { return nil }
        return Int64(milliseconds)
    }
}

/// A moment's date and time of day in UTC, by arithmetic (Howard Hinnant's `civil_from_days`):
/// pages that print a time per row cannot afford a formatter per row.
public struct UTCTime: Sendable, Equatable {
    public let year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64

    public init(milliseconds: Int64) {
        let seconds = milliseconds.floorDivided(by: 1000)
        let days = seconds.floorDivided(by: 86_400)
        let time = seconds - days * 86_400
        hour = time / 3600
        minute = time % 3600 / 60
        second = time % 60
        let shifted = days + 719_468
        let era = shifted.floorDivided(by: 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    public static func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
