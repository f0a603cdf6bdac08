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
