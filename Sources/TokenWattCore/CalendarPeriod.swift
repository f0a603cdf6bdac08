import Foundation

/// A calendar day, week (from Monday, as ISO 8601 counts) or month in a time zone: the one
/// definition budgets and `tokenwatt report` share, so a report of "this month" and a monthly
/// budget add up the same hours.
public struct CalendarPeriod: Sendable, Equatable {
    public enum Unit: String, Sendable, CaseIterable {
        case day, week, month

        var component: Calendar.Component {
            switch self {
            case .day: .day
            case .week: .weekOfYear
            case .month: .month
            }
        }
    }

    public var unit: Unit
    public var timezone: TimeZone

    public init(_ unit: Unit, timezone: TimeZone) {
        self.unit = unit
        self.timezone = timezone
    }

    /// The period holding `time` (ms): its start and end, `[start, end)`.
    public func bounds(at time: Int64) -> (start: Int64, end: Int64) {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = timezone
        let date = Date(timeIntervalSince1970: Double(time) / 1000)
        let interval = calendar.dateInterval(of: unit.component, for: date)!
        return (Int64((interval.start.timeIntervalSince1970 * 1000).rounded()), Int64((interval.end.timeIntervalSince1970 * 1000).rounded()))
    }
}
