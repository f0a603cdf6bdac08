/// One value of a series at a time, in milliseconds since the Unix epoch.
public struct Sample: Hashable, Sendable {
    public var timestamp: Int64
    public var value: Double

    public init(timestamp: Int64, value: Double) {
        self.timestamp = timestamp
        self.value = value
    }

    /// Prometheus's stale marker: a NaN with this exact bit pattern ends a series.
    public static let staleMarkerBits: UInt64 = 0x7ff0_0000_0000_0002
    public static let staleMarker = Double(bitPattern: staleMarkerBits)

    public var isStaleMarker: Bool { value.bitPattern == Sample.staleMarkerBits }

    /// Equal when the timestamp and the value's bits are equal, so NaNs and stale markers
    /// compare as the same sample.
    public static func == (lhs: Sample, rhs: Sample) -> Bool {
        lhs.timestamp == rhs.timestamp && lhs.value.bitPattern == rhs.value.bitPattern
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(timestamp)
        hasher.combine(value.bitPattern)
    }
}

/// A series' labels with some of its samples.
public struct TimeSeries: Hashable, Sendable {
    public var labels: LabelSet
    public var samples: [Sample]

    public init(labels: LabelSet, samples: [Sample]) {
        self.labels = labels
        self.samples = samples
    }
}
