/// Durations written as Prometheus writes them: `30s`, `5m`, `1h30m`, `15d`, `2w`, `5y`, `500ms`,
/// at most `TimeBounds.longestMs`, so that adding one to a checked time cannot overflow.
public enum ConfigDuration {
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", Milliseconds.second), ("m", Milliseconds.minute), ("h", Milliseconds.hour),
        ("d", Milliseconds.day), ("w", Milliseconds.week), ("y", Milliseconds.year),
    ]

    public static func parse(_ text: String) -> Duration? {
        guard let milliseconds = milliseconds(text) else { return nil }
        return .milliseconds(milliseconds)
    }

    public static func milliseconds(_ text: String) -> Int64? {
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        var total: Int64 = 0
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let number = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            // "ms" comes before "m" in `units`, so the longer unit wins.
            guard let unit = units.first(where: { rest.hasPrefix($0.suffix) }) else {
                return nil
            }
            rest = rest.dropFirst(unit.suffix.count)
            let (product, overflow) = number.multipliedReportingOverflow(by: unit.milliseconds)
            guard !overflow, product <= TimeBounds.longestMs - total else { return nil }
            total += product
        }
        return total
    }
}

/// Byte sizes: a plain number of bytes, or with `KB`, `MB`, `GB` (powers of 1000) or `KiB`, `MiB`, `GiB`.
public enum ConfigByteSize {
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: " ")
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard let number = Int(digits) else { return nil }
        let multipliers: [String: Int] = ["": 1, "B": 1, "KB": 1000, "MB": 1_000_000, "GB": 1_000_000_000,
                                          "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30]
        let suffix = trimmed.dropFirst(digits.count).trimmingCharacters(in: " ")
        guard let multiplier = multipliers[suffix] else { return nil }
        let (product, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }
}
