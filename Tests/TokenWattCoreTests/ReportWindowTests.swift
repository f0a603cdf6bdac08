import Foundation
import Testing
import TokenWattCore

/// `tokenwatt report`'s window: calendar periods as budgets count them, durations, and times
/// in Unix seconds or RFC 3339 with any offset.
@Suite struct ReportWindowTests {
    static let berlin = TimeZone(identifier: "Europe/Berlin")!
    static let utc = TimeZone(identifier: "UTC")!
    /// 2026-12-02T16:30:00Z.
    static let now: Int64 = 1_796_229_000_000

    static func ms(_ text: String) -> Int64 { TimeBounds.milliseconds(fromRFC3339: text)! }

    @Test(arguments: [
        // (period, from, to, zone, expected from, expected to)
        ("day", nil, nil, utc, "2026-12-02T00:00:00Z", "2026-12-02T16:30:00Z"),
        ("day", nil, nil, berlin, "2026-12-01T23:00:00Z", "2026-12-02T16:30:00Z"),
        ("month", nil, nil, berlin, "2026-11-30T23:00:00Z", "2026-12-02T16:30:00Z"),
        // A whole month: to is its end, and the period is the one holding the moment before.
        ("month", nil, "2026-12-01T00:00:00+01:00", berlin, "2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z"),
        ("week", nil, nil, utc, "2026-11-30T00:00:00Z", "2026-12-02T16:30:00Z"),  // Monday
        ("6h", nil, "2026-12-01T12:00:00Z", utc, "2026-12-01T06:00:00Z", "2026-12-01T12:00:00Z"),
        ("30d", nil, "1796169600", utc, "2026-11-02T00:00:00Z", "2026-12-02T00:00:00Z"),
        ("day", "2026-12-01T11:00:00+01:00", nil, utc, "2026-12-01T10:00:00Z", "2026-12-02T16:30:00Z"),
    ] as [(String, String?, String?, TimeZone, String, String)])
    func resolves(period: String, from: String?, to: String?, zone: TimeZone, start: String, end: String) throws {
        let window = try ReportWindow.resolve(period: period, from: from, to: to, timezone: zone, now: ReportWindowTests.now)
        #expect(window.from == ReportWindowTests.ms(start))
        #expect(window.to == ReportWindowTests.ms(end))
    }

    @Test(arguments: [
        ("fortnight", nil, nil, "--period expects day, week, month or a duration"),
        ("day", "yesterday", nil, "--from expects Unix seconds or an RFC 3339 time"),
        ("day", nil, "99999999999999999", "--to expects"),
        ("day", "2026-12-03T00:00:00Z", nil, "start must come before its end"),
    ] as [(String, String?, String?, String)])
    func refuses(period: String, from: String?, to: String?, message: String) {
        #expect {
            try ReportWindow.resolve(period: period, from: from, to: to, timezone: ReportWindowTests.utc, now: ReportWindowTests.now)
        } throws: { "\($0)".contains(message) }
    }
}
