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
        // A 0.0.4 counter is named after its `_total` samples; one whose samples have no suffix
        // (Triton's `nv_inference_request_success`), or that has none, keeps its own name, which
        // another family may hold with the suffix (both found by fuzzing).
        let suffixed = family.samples.contains { $0.name == family.name + "_total" }
        let skipsCreated = writeHeader(name: family.name, type: family.type, help: family.help, unit: family.unit,
                                       totalSuffix: suffixed, into: &out)
        for sample in family.samples {
            if skipsCreated && sample.name.hasSuffix("_created") { continue }
            writeSeriesLine(ExpositionWriter.seriesText(name: sample.name, labels: sample.labels), value: sample.value,
                            timestamp: sample.timestamp, into: &out)
        }
    }

    /// A family's TYPE and HELP (and UNIT in OpenMetrics) lines. Returns whether its `_created`
    /// samples are to be left out (a counter in 0.0.4).
    @discardableResult
    public func writeHeader(name: String, type: MetricType, help: String?, unit: String? = nil, totalSuffix: Bool = true,
                            into out: inout [UInt8]) -> Bool {
        let metadataName = format == .prometheusText && type == .counter && totalSuffix ? name + "_total" : name
        let typeName: String
        switch format {
        case .prometheusText:
            // 0.0.4 knows five types; the OpenMetrics-only ones are written as untyped.
            switch type {
            case .counter, .gauge, .histogram, .summary, .untyped: typeName = type.rawValue
            case .gaugeHistogram, .info, .stateset: typeName = MetricType.untyped.rawValue
            }
        case .openMetrics:
            typeName = type.openMetricsName
        }
        if format == .openMetrics {
            append("# TYPE \(metadataName) \(typeName)\n", to: &out)
            if let unit { append("# UNIT \(metadataName) \(unit)\n", to: &out) }
            if let help { append("# HELP \(metadataName) \(ExpositionEscaping.help(help, format: format))\n", to: &out) }
        } else {
            if let help { append("# HELP \(metadataName) \(ExpositionEscaping.help(help, format: format))\n", to: &out) }
            append("# TYPE \(metadataName) \(typeName)\n", to: &out)
        }
        return format == .prometheusText && type == .counter
    }

    /// `name{label="value",...}`, labels in their order and values escaped: how a series'
    /// sample lines begin, the same in both formats. Worth keeping for a series that is written often.
    public static func seriesText(name: String, labels: [Label]) -> [UInt8] {
        var text = Array(name.utf8)
        guard !labels.isEmpty else { return text }
        text.append(UInt8(ascii: "{"))
        for (index, label) in labels.enumerated() {
            if index > 0 { text.append(UInt8(ascii: ",")) }
            text.append(contentsOf: label.name.utf8)
            text.append(contentsOf: "=\"".utf8)
            text.append(contentsOf: ExpositionEscaping.labelValue(label.value).utf8)
            text.append(UInt8(ascii: "\""))
        }
        text.append(UInt8(ascii: "}"))
        return text
    }

    /// One sample line: the series' text, the value and the timestamp if there is one.
    public func writeSeriesLine(_ seriesText: [UInt8], value: Double, timestamp: Int64?, into out: inout [UInt8]) {
        out.append(contentsOf: seriesText)
        out.append(UInt8(ascii: " "))
        if value == value.rounded(), abs(value) < 1e15 {
            ExpositionWriter.appendDecimal(Int64(value), to: &out)
        } else {
            out.append(contentsOf: ExpositionWriter.formatValue(value).utf8)
        }
        if let timestamp {
            out.append(UInt8(ascii: " "))
            switch format {
            case .prometheusText:
                ExpositionWriter.appendDecimal(timestamp, to: &out)
            case .openMetrics:
                out.append(contentsOf: ExpositionWriter.formatSeconds(milliseconds: timestamp).utf8)
            }
        }
        out.append(UInt8(ascii: "\n"))
    }

    /// An integer's decimal digits, written straight into the output: most values and every
    /// timestamp are integers, and a `String` for each would cost more than the rest of the line.
    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits, filled from the end
        withUnsafeMutableBytes(of: &digits) { buffer in
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start...]))
        }
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
