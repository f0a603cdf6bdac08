/// Lengths of time in milliseconds, the unit every timestamp and duration in TokenWatt uses:
/// each written once, here.
public enum Milliseconds {
    public static let second: Int64 = 1_000
    public static let minute: Int64 = 60 * second
    public static let hour: Int64 = 60 * minute
    /// A day of 24 hours: UTC days, and durations such as `15d`.
    public static let day: Int64 = 24 * hour
    public static let week: Int64 = 7 * day
    /// A year of 365 days, as Prometheus's `y` means it.
    public static let year: Int64 = 365 * day
}
