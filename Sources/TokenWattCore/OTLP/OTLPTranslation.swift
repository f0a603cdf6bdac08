/// An OTLP export as series, by the rules of Prometheus's OTLP receiver: names and labels as
/// `OTLPNames` makes them; `service.namespace`/`service.name` → `job`, `service.instance.id` →
/// `instance`, a resource's other attributes on a `target_info` series; histograms as classic
/// `_bucket`/`_sum`/`_count`, summaries as quantiles; a point without a recorded value as a
/// stale marker. Points it cannot store are rejected one by one, each with its reason, and
/// the rest kept: the export's partial success.
public struct OTLPTranslation: Sendable {
    /// A series with its samples from this export. `delta` series carry increments (delta
    /// temporality) that the receiver adds to what the series held: a counter again.
    public struct Series: Sendable, Equatable {
        public var labels: LabelSet
        public var samples: [Sample]
        public var delta: Bool
    }

    public private(set) var series: [Series] = []
    /// Data points rejected, and why.
    public private(set) var rejections = OTLPRejections()
    private var positions: [LabelSet: Int] = [:]
    private var lastAppended: Int?

    public init(_ export: OTLPExport, now: Int64, maxFutureSkewMs: Int64, isReserved: (String) -> Bool = { _ in false }) {
        for resource in export.resources {
            let identity = OTLPTranslation.identity(of: resource)
            var newest: Int64?
            for scope in resource.scopes {
                for metric in scope.metrics {
                    if let latest = add(metric, identity: identity, now: now, latestAllowed: now + maxFutureSkewMs, isReserved: isReserved) {
                        newest = max(newest ?? .min, latest)
                    }
                }
            }
            if let newest { addTargetInfo(resource, identity: identity, at: newest) }
        }
    }

    /// The resource attributes that name the target.
    static let serviceName = "service.name", serviceNamespace = "service.namespace", serviceInstance = "service.instance.id"

    /// `job` and `instance` from the resource, as labels.
    static func identity(of resource: OTLPExport.Resource) -> [Label] {
        var labels: [Label] = []
        if let name = resource[serviceName], !name.isEmpty {
            let namespace = resource[serviceNamespace] ?? ""
            labels.append(Label("job", namespace.isEmpty ? name : namespace + "/" + name))
        }
        if let instance = resource[serviceInstance], !instance.isEmpty { labels.append(Label("instance", instance)) }
        return labels
    }

    /// `target_info`: the resource's other attributes, on one series per target, valued 1.
    private mutating func addTargetInfo(_ resource: OTLPExport.Resource, identity: [Label], at timestamp: Int64) {
        let others = resource.attributes.filter { ![OTLPTranslation.serviceName, OTLPTranslation.serviceNamespace, OTLPTranslation.serviceInstance].contains($0.key) }
        guard !others.isEmpty, let labels = try? OTLPTranslation.labels(others, name: "target_info", identity: identity) else { return }
        append(labels, Sample(timestamp: timestamp, value: 1), delta: false)
    }

    /// Labels from attributes: keys that collide once named join their values with `;`, in
    /// the order of their keys; the identity labels win over attributes of the same name.
    static func labels(_ attributes: [OTLPExport.Attribute], name: String, identity: [Label]) throws(CoreError) -> LabelSet {
        let fixed = identity + [Label(LabelSet.metricNameLabel, name)]
        var named = attributes.compactMap { attribute -> (name: String, key: String, value: String)? in
            attribute.value.isEmpty ? nil : (OTLPNames.labelName(attribute.key), attribute.key, attribute.value)
        }
        named.sort { ($0.name, $0.key) < ($1.name, $1.key) }
        var labels: [Label] = []
        labels.reserveCapacity(named.count + fixed.count)
        for pair in named where !fixed.contains(where: { $0.name == pair.name }) {
            if labels.last?.name == pair.name {
                labels[labels.count - 1].value += ";" + pair.value
            } else {
                labels.append(Label(pair.name, pair.value))
            }
        }
        labels += fixed
        labels.sort { $0.name < $1.name }
        try LabelSet.check(labels)
        return LabelSet(trusted: labels)
    }

    /// Adds a metric's points; returns the newest timestamp stored.
    private mutating func add(_ metric: OTLPExport.Metric, identity: [Label], now: Int64, latestAllowed: Int64, isReserved: (String) -> Bool) -> Int64? {
        var newest: Int64?
        let kind: OTLPNames.Kind
        switch metric.data {
        case .none: return nil
        case .gauge: kind = .gauge
        case .sum(_, _, let monotonic): kind = monotonic ? .monotonicCounter : .nonMonotonicCounter
        case .histogram, .exponentialHistogram: kind = .histogram
        case .summary: kind = .summary
        }
        let name = OTLPNames.metricName(metric.name, unit: metric.unit, kind: kind)
        let described = "\"\(metric.name)\""
        if name.isEmpty || !MetricName.isValidMetricName(name) {
            return reject(metric.data.points, "metric \(described) has no name Prometheus can store")
        }
        if isReserved(name) {
            return reject(metric.data.points, "\(name): the aggregator computes this family itself; rename the metric")
        }
        /// The point's timestamp, or nil with the point rejected.
        func time(_ point: OTLPExport.Point) -> Int64? {
            let milliseconds = Int64(point.timeNanos / 1_000_000)
            guard milliseconds > 0, milliseconds <= latestAllowed else {
                _ = reject(1, "metric \(described): time_unix_nano \(point.timeNanos) is not between the epoch and now plus the allowed skew")
                return nil
            }
            newest = max(newest ?? .min, milliseconds)
            return milliseconds
        }
        /// The previous point's attributes and labels: a series' points often come one after
        /// another (several rounds in one export), and then its labels are made once.
        var previous: (attributes: [OTLPExport.Attribute], seriesName: String, labels: LabelSet)?
        /// The point's labels, or nil with the point rejected.
        func labels(_ point: OTLPExport.Point, _ seriesName: String) -> LabelSet? {
            if let previous, previous.seriesName == seriesName, previous.attributes == point.attributes { return previous.labels }
            do {
                let labels = try OTLPTranslation.labels(point.attributes, name: seriesName, identity: identity)
                previous = (point.attributes, seriesName, labels)
                return labels
            } catch {
                _ = reject(1, "metric \(described): \(error)")
                return nil
            }
        }
        switch metric.data {
        case .none: break
        case .gauge(let points):
            for point in points {
                guard let labels = labels(point.point, name), let timestamp = time(point.point) else { continue }
                append(labels, Sample(timestamp: timestamp, value: point.point.hasNoRecordedValue ? Sample.staleMarker : point.value), delta: false)
            }
        case .sum(let points, let temporality, let monotonic):
            guard temporality != .unspecified else { return reject(points.count, "sum \(described) has no aggregation temporality") }
            for point in points {
                guard let labels = labels(point.point, name), let timestamp = time(point.point) else { continue }
                if temporality == .delta {
                    if point.point.hasNoRecordedValue { continue }
                    guard point.value.isFinite, !monotonic || point.value >= 0 else {
                        _ = reject(1, "delta sum \(described): \(point.value) cannot be added to a counter")
                        continue
                    }
                }
                append(labels, Sample(timestamp: timestamp, value: point.point.hasNoRecordedValue ? Sample.staleMarker : point.value), delta: temporality == .delta)
            }
        case .histogram(let points, let temporality):
            guard temporality != .unspecified else { return reject(points.count, "histogram \(described) has no aggregation temporality") }
            for point in points {
                guard point.bucketCounts.isEmpty || point.bucketCounts.count == point.bounds.count + 1 else {
                    _ = reject(1, "histogram \(described): \(point.bucketCounts.count) bucket counts for \(point.bounds.count) bounds (must be one more)")
                    continue
                }
                guard zip(point.bounds, point.bounds.dropFirst()).allSatisfy({ $0 < $1 }), point.bounds.allSatisfy({ !$0.isNaN }) else {
                    _ = reject(1, "histogram \(described): bounds not in increasing order")
                    continue
                }
                guard let countLabels = labels(point.point, name + "_count"), let timestamp = time(point.point) else { continue }
                let delta = temporality == .delta
                if delta && point.point.hasNoRecordedValue { continue }
                func value(_ number: Double) -> Double { point.point.hasNoRecordedValue ? Sample.staleMarker : number }
                if let sum = point.sum {
                    guard !delta || sum.isFinite else {
                        _ = reject(1, "delta histogram \(described): a sum of \(sum) cannot be added")
                        continue
                    }
                    append(countLabels.setting(LabelSet.metricNameLabel, to: name + "_sum"), Sample(timestamp: timestamp, value: value(sum)), delta: delta)
                }
                append(countLabels, Sample(timestamp: timestamp, value: value(Double(point.count))), delta: delta)
                var cumulative: UInt64 = 0
                for (bound, count) in zip(point.bounds, point.bucketCounts) {
                    cumulative &+= count
                    append(countLabels.setting(LabelSet.metricNameLabel, to: name + "_bucket").setting("le", to: ExpositionWriter.formatValue(bound)),
                           Sample(timestamp: timestamp, value: value(Double(cumulative))), delta: delta)
                }
                append(countLabels.setting(LabelSet.metricNameLabel, to: name + "_bucket").setting("le", to: "+Inf"),
                       Sample(timestamp: timestamp, value: value(Double(point.count))), delta: delta)
            }
        case .exponentialHistogram(let points):
            return reject(points, "exponential histogram \(described) is not stored (no native histograms here): export explicit buckets "
                                  + "(OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=explicit_bucket_histogram)")
        case .summary(let points):
            for point in points {
                guard let countLabels = labels(point.point, name + "_count"), let timestamp = time(point.point) else { continue }
                func value(_ number: Double) -> Double { point.point.hasNoRecordedValue ? Sample.staleMarker : number }
                append(countLabels.setting(LabelSet.metricNameLabel, to: name + "_sum"), Sample(timestamp: timestamp, value: value(point.sum)), delta: false)
                append(countLabels, Sample(timestamp: timestamp, value: value(Double(point.count))), delta: false)
                for quantile in point.quantiles {
                    append(countLabels.setting(LabelSet.metricNameLabel, to: name).setting("quantile", to: ExpositionWriter.formatValue(quantile.quantile)),
                           Sample(timestamp: timestamp, value: value(quantile.value)), delta: false)
                }
            }
        }
        return newest
    }

    /// Counts rejected points under a reason; nil, for callers that return no timestamp.
    private mutating func reject(_ points: Int, _ reason: String) -> Int64? {
        rejections.add(points, reason)
        return nil
    }

    private mutating func append(_ labels: LabelSet, _ sample: Sample, delta: Bool) {
        // The series appended to last, found without hashing its labels (they are often the
        // very same labels, whose equality is then a pointer comparison).
        if let last = lastAppended, series[last].labels == labels {
            series[last].samples.append(sample)
        } else if let position = positions[labels] {
            series[position].samples.append(sample)
            lastAppended = position
        } else {
            positions[labels] = series.count
            lastAppended = series.count
            series.append(Series(labels: labels, samples: [sample], delta: delta))
        }
    }
}
