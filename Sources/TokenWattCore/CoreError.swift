/// Errors raised by the metric model, the exposition formats, the remote-write codec and
/// configuration loading. Each case carries what an operator needs to find the problem.
public enum CoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidMetricName(String)
    case invalidLabelName(String)
    case reservedLabelName(String)
    case duplicateLabelName(String)
    case emptyLabelValue(labelName: String)
    case unsortedLabels(String)
    case missingMetricName
    /// Malformed exposition text; `line` counts from 1.
    case parse(line: Int, reason: String)
    case snappy(String)
    case gzip(String)
    /// A `Content-Encoding` the receiver does not read.
    case unsupportedEncoding(String)
    case json(String)
    case protobuf(String)
    /// A request past a bound as a whole (too many series, samples, labels): split it.
    case tooLarge(String)
    /// A series past a bound of its own (labels, label length): it can never be accepted.
    case limit(String)
    /// An invalid configuration: the file, the key path and what was expected there.
    case config(file: String, key: String, expected: String)

    public var description: String {
        switch self {
        case .invalidMetricName(let name): "invalid metric name \"\(name)\""
        case .invalidLabelName(let name): "invalid label name \"\(name)\""
        case .reservedLabelName(let name): "label name \"\(name)\" is reserved (starts with __)"
        case .duplicateLabelName(let name): "duplicate label name \"\(name)\""
        case .emptyLabelValue(let name): "empty value for label \"\(name)\""
        case .unsortedLabels(let name): "labels not sorted by name at \"\(name)\""
        case .missingMetricName: "series without a __name__ label"
        case .parse(let line, let reason): "line \(line): \(reason)"
        case .snappy(let reason): "snappy: \(reason)"
        case .gzip(let reason): "gzip: \(reason)"
        case .unsupportedEncoding(let reason): reason
        case .json(let reason): "JSON: \(reason)"
        case .protobuf(let reason): "protobuf: \(reason)"
        case .tooLarge(let reason): "request too large: \(reason)"
        case .limit(let reason): "over a limit: \(reason)"
        case .config(let file, let key, let expected): "\(file): \(key): \(expected)"
        }
    }
}
