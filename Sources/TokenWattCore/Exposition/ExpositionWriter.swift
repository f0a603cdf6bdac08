/// Writes metric families in Prometheus text 0.0.4 or OpenMetrics 1.0.
///
/// Families are written in the order given, each as one block: HELP and TYPE (and UNIT in
/// OpenMetrics) before its samples. In 0.0.4 a counter's metadata names its `_total` series and
/// `_created` samples are left out; OpenMetrics gets them as they are, timestamps in seconds, and
/// a closing `# EOF`.
public struct ExpositionWriter: Sendable {
    public let format: ExpositionFormat

    public init(format: ExpositionFormat) {
        self.format = format
    }

    public func render(_ families: [MetricFamily]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(families.reduce(0) { $0 + 64 + $1.samples.count * 64 })
        for family in families { write(family, into: &out) }
        if format == .openMetrics { out.append(contentsOf: "# EOF\n".utf8) }
        return out
    }

    public func write(_ family: MetricFamily, into out: inout [UInt8]) {
        let metadataName = format == .prometheusText && family.type == .counter ? family.name + "_total" : family.name
        let typeName: String
        switch format {
        case .prometheusText:
            // 0.0.4 knows five types; the OpenMetrics-only ones are written as untyped.
            switch family.type {
            case .counter, .gauge, .histogram, .summary, .untyped: typeName = family.type.rawValue
            case .gaugeHistogram, .info, .stateset: typeName = MetricType.untyped.rawValue
            }
        case .openMetrics:
            typeName = family.type.openMetricsName
        }
        if format == .openMetrics {
            append("# TYPE \(metadataName) \(typeName)\n", to: &out)
            if let unit = family.unit { append("# UNIT \(metadataName) \(unit)\n", to: &out) }
            if let help = family.help { append("# HELP \(metadataName) \(ExpositionEscaping.help(help, format: format))\n", to: &out) }
        } else {
            if let help = family.help { append("# HELP \(metadataName) \(ExpositionEscaping.help(help, format: format))\n", to: &out) }
            append("# TYPE \(metadataName) \(typeName)\n", to: &out)
        }
        for sample in family.samples {
            if format == .prometheusText && family.type == .counter && sample.name.hasSuffix("_created") { continue }
            writeSample(sample, into: &out)
        }
    }

    func writeSample(_ sample: ExpositionSample, into out: inout [UInt8]) {
        out.append(contentsOf: sample.name.utf8)
        if !sample.labels.isEmpty {
            out.append(UInt8(ascii: "{"))
            for (index, label) in sample.labels.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: label.name.utf8)
                out.append(contentsOf: "=\"".utf8)
                out.append(contentsOf: ExpositionEscaping.labelValue(label.value).utf8)
                out.append(UInt8(ascii: "\""))
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: ExpositionWriter.formatValue(sample.value).utf8)
        if let timestamp = sample.timestamp {
            out.append(UInt8(ascii: " "))
            switch format {
            case .prometheusText:
                out.append(contentsOf: String(timestamp).utf8)
            case .openMetrics:
                out.append(contentsOf: ExpositionWriter.formatSeconds(milliseconds: timestamp).utf8)
            }
        }
        out.append(UInt8(ascii: "\n"))
    }

    private func append(_ string: String, to out: inout [UInt8]) {
        out.append(contentsOf: string.utf8)
    }

    /// Formats a value as Go's ParseFloat reads it: integers without a fraction, `NaN`, `+Inf`, `-Inf`.
    public static func formatValue(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 {
            return String(Int64(value))
        }
        return String(value)
    }

    /// Milliseconds as decimal seconds, exact: `1700000000123` → `1700000000.123`.
    static func formatSeconds(milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        let remainder = abs(milliseconds % 1000)
        if remainder == 0 { return String(seconds) }
        let sign = milliseconds < 0 && seconds == 0 ? "-" : ""
        var fraction = String(remainder)
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(sign)\(seconds).\(fraction)"
    }
}
