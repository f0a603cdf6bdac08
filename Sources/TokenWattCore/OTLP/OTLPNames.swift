/// Prometheus's names for OTLP metrics and attributes (its receiver's default translation,
/// `UnderscoreEscapingWithSuffixes`, after the OpenTelemetry specification's "Prometheus and
/// OpenMetrics compatibility"): what an operator who points a collector at Prometheus sees,
/// they see here.
public enum OTLPNames {
    /// What a metric becomes, for its suffixes.
    public enum Kind: Sendable {
        case gauge, monotonicCounter, nonMonotonicCounter, histogram, summary
    }

    /// The series name of a metric: characters outside `[a-zA-Z0-9:]` split it into words
    /// joined by single underscores; its unit is appended in words (`s` → `seconds`, `By/s` →
    /// `bytes_per_second`; annotations in braces like `{token}` add nothing) unless a word
    /// already says it; counters end in `_total`, gauges of unit `1` in `_ratio`; a leading
    /// digit gets an underscore.
    public static func metricName(_ name: String, unit: String, kind: Kind) -> String {
        var words = name.split { !isNameCharacter($0) }.map(String.init)
        let (main, per) = unitWords(unit)
        if let main, !words.contains(main) { words.append(main) }
        if let per, !words.contains(per) { words.append(per) }
        if kind == .monotonicCounter {
            words.removeAll { $0 == "total" }
            words.append("total")
        }
        if unit == "1" && kind == .gauge {
            words.removeAll { $0 == "ratio" }
            words.append("ratio")
        }
        let joined = words.joined(separator: "_")
        return joined.first?.isNumber == true ? "_" + joined : joined
    }

    /// A label name for an attribute key: characters outside `[a-zA-Z0-9_]` become `_`; a
    /// leading digit gets `key_`, a single leading underscore `key`. Read byte by byte: every
    /// attribute of every point comes through here, and most keys need no change.
    public static func labelName(_ key: String) -> String {
        var utf8 = key.utf8
        guard let first = utf8.first else { return "" }
        let isValid = utf8.allSatisfy(isLabelByte)
        let startsWithDigit = first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")
        let singleUnderscore = first == UInt8(ascii: "_") && utf8.dropFirst().first != UInt8(ascii: "_")
        if isValid && !startsWithDigit && !singleUnderscore { return key }
        // Each character that is not one of the allowed bytes becomes one underscore.
        let sanitized = isValid ? key : String(key.unicodeScalars.map { $0.isASCII && isLabelByte(UInt8($0.value)) ? Character($0) : "_" })
        utf8 = sanitized.utf8
        if startsWithDigit { return "key_" + sanitized }
        if utf8.first == UInt8(ascii: "_") && utf8.dropFirst().first != UInt8(ascii: "_") { return "key" + sanitized }
        return sanitized
    }

    private static func isLabelByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
    }

    /// The words a unit adds: its main part and its `per_` part.
    static func unitWords(_ unit: String) -> (main: String?, per: String?) {
        let parts = unit.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        func usable(_ part: String?) -> String? {
            guard let part, !part.isEmpty, !part.contains("{"), !part.contains("}") else { return nil }
            return part
        }
        let main = usable(parts.first).flatMap { cleaned(mainUnits[$0] ?? $0) }
        let per = usable(parts.count > 1 ? parts[1] : nil).flatMap { cleaned(perUnits[$0] ?? $0) }.map { "per_" + $0 }
        return (main, per)
    }

    /// A unit's text as name characters: others become underscores, runs of them one, none leading.
    private static func cleaned(_ text: String) -> String? {
        var out = ""
        for character in text {
            let next: Character = isNameCharacter(character) ? character : "_"
            if next == "_" && (out.isEmpty || out.last == "_") { continue }
            out.append(next)
        }
        return out.isEmpty ? nil : out
    }

    private static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == ":")
    }


    /// UCUM units as words (the specification's table).
    static let mainUnits: [String: String] = [
        "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds",
        "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes",
        "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
        "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
        "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
    ]

    /// The units after `/`, singular.
    static let perUnits: [String: String] = [
        "s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year",
    ]
}
