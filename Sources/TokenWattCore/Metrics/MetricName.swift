/// Prometheus's naming rules for metric and label names.
public enum MetricName {
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    public static func isValidMetricName(_ name: String) -> Bool {
        isValid(name.utf8, allowColon: true)
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`
    public static func isValidLabelName(_ name: String) -> Bool {
        isValid(name.utf8, allowColon: false)
    }

    static func isValid<C: Collection>(_ bytes: C, allowColon: Bool) -> Bool where C.Element == UInt8 {
        guard let first = bytes.first, isNameStart(first) || (allowColon && first == UInt8(ascii: ":")) else {
            return false
        }
        return bytes.dropFirst().allSatisfy { isNameContinuation($0) || (allowColon && $0 == UInt8(ascii: ":")) }
    }

    @inline(__always) static func isNameStart(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == UInt8(ascii: "_")
    }

    @inline(__always) static func isNameContinuation(_ byte: UInt8) -> Bool {
        isNameStart(byte) || (byte >= 0x30 && byte <= 0x39)
    }
}
