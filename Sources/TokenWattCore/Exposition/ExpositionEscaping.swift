/// Escaping rules of the text formats.
public enum ExpositionEscaping {
    /// Label values escape backslash, double quote and newline.
    public static func labelValue(_ value: String) -> String {
        escape(value, quote: true)
    }

    /// HELP text escapes backslash and newline (and, in OpenMetrics, double quote as well).
    public static func help(_ text: String, format: ExpositionFormat) -> String {
        escape(text, quote: format == .openMetrics)
    }

    static func escape(_ value: String, quote: Bool) -> String {
        guard value.utf8.contains(where: { $0 == 0x5C || $0 == 0x0A || (quote && $0 == 0x22) }) else { return value }
        var out = ""
        out.reserveCapacity(value.utf8.count + 4)
        for character in value.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quote: out += "\\\""
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }
}
