/// One OTLP metrics export request as the receivers read it: what `OTLPWireDecoder` makes of
/// the protobuf bytes (and of JSON, through them), without exemplars, descriptions' metadata
/// or anything else a receiver does not keep.
public struct OTLPExport: Sendable, Equatable {
    public var resources: [Resource] = []

    public init(resources: [Resource] = []) {
        self.resources = resources
    }

    /// Data points in the request, of every kind.
    public var dataPoints: Int { resources.reduce(0) { $0 + $1.scopes.reduce(0) { $0 + $1.metrics.reduce(0) { $0 + $1.data.points } } } }

    public struct Resource: Sendable, Equatable {
        public var attributes: [Attribute] = []
        public var scopes: [Scope] = []

        public init(attributes: [Attribute] = [], scopes: [Scope] = []) {
            self.attributes = attributes
            self.scopes = scopes
        }

        public subscript(key: String) -> String? { attributes.first { $0.key == key }?.value }
    }

    public struct Scope: Sendable, Equatable {
        public var name = ""
        public var version = ""
        public var metrics: [Metric] = []

        public init(name: String = "", version: String = "", metrics: [Metric] = []) {
            self.name = name
            self.version = version
            self.metrics = metrics
        }
    }

    public struct Metric: Sendable, Equatable {
        public var name = ""
        public var unit = ""
        public var data = Data.none

        public init(name: String = "", unit: String = "", data: Data = .none) {
            self.name = name
            self.unit = unit
            self.data = data
        }
    }

    public enum Temporality: Int, Sendable {
        case unspecified = 0, delta = 1, cumulative = 2

        /// The enum's wire value; one no version defines reads as unspecified.
        init(wire value: UInt64) {
            self = Temporality(rawValue: Int(truncatingIfNeeded: value)) ?? .unspecified
        }
    }

    public enum Data: Sendable, Equatable {
        case none
        case gauge([NumberPoint])
        case sum([NumberPoint], Temporality, monotonic: Bool)
        case histogram([HistogramPoint], Temporality)
        /// Exponential histograms are counted, not read: nothing stores native histograms.
        case exponentialHistogram(points: Int)
        case summary([SummaryPoint])

        public var points: Int {
            switch self {
            case .none: 0
            case .gauge(let points), .sum(let points, _, _): points.count
            case .histogram(let points, _): points.count
            case .exponentialHistogram(let points): points
            case .summary(let points): points.count
            }
        }
    }

    /// An attribute with its value as text, as Prometheus's receiver makes a label of it: a
    /// string as it is, numbers and booleans as written, arrays and maps as JSON, bytes in base64.
    public struct Attribute: Sendable, Equatable {
        public var key: String
        public var value: String

        public init(_ key: String, _ value: String) {
            self.key = key
            self.value = value
        }
    }

    /// What every kind of data point has.
    public struct Point: Sendable, Equatable {
        public var attributes: [Attribute] = []
        public var startNanos: UInt64 = 0
        public var timeNanos: UInt64 = 0
        public var flags: UInt32 = 0

        public init(attributes: [Attribute] = [], startNanos: UInt64 = 0, timeNanos: UInt64 = 0, flags: UInt32 = 0) {
            self.attributes = attributes
            self.startNanos = startNanos
            self.timeNanos = timeNanos
            self.flags = flags
        }

        /// DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK: the series went away (a stale marker).
        public var hasNoRecordedValue: Bool { flags & 1 != 0 }

        public subscript(key: String) -> String? { attributes.first { $0.key == key }?.value }
    }

    public struct NumberPoint: Sendable, Equatable {
        public var point = Point()
        public var value = 0.0

        public init(point: Point = Point(), value: Double = 0) {
            self.point = point
            self.value = value
        }
    }

    public struct HistogramPoint: Sendable, Equatable {
        public var point = Point()
        public var count: UInt64 = 0
        public var sum: Double?
        /// Per bucket, not cumulative; one more than `bounds`, or none.
        public var bucketCounts: [UInt64] = []
        public var bounds: [Double] = []

        public init(point: Point = Point(), count: UInt64 = 0, sum: Double? = nil, bucketCounts: [UInt64] = [], bounds: [Double] = []) {
            self.point = point
            self.count = count
            self.sum = sum
            self.bucketCounts = bucketCounts
            self.bounds = bounds
        }
    }

    public struct SummaryPoint: Sendable, Equatable {
        public var point = Point()
        public var count: UInt64 = 0
        public var sum = 0.0
        public var quantiles: [(quantile: Double, value: Double)] = []

        public init(point: Point = Point(), count: UInt64 = 0, sum: Double = 0, quantiles: [(quantile: Double, value: Double)] = []) {
            self.point = point
            self.count = count
            self.sum = sum
            self.quantiles = quantiles
        }

        public static func == (lhs: SummaryPoint, rhs: SummaryPoint) -> Bool {
            lhs.point == rhs.point && lhs.count == rhs.count && lhs.sum.bitPattern == rhs.sum.bitPattern
                && lhs.quantiles.map(\.quantile) == rhs.quantiles.map(\.quantile) && lhs.quantiles.map(\.value) == rhs.quantiles.map(\.value)
        }
    }
}
