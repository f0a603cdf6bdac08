import Synchronization
import TokenWattCore

/// Tokens that applications report through `POST /v1/usage` (cloud API calls no local server
/// counts): `tokenwatt_tokens_total{source="usage_api", provider, model, type, <attributes>}`
/// and `tokenwatt_requests_total`, pushed with the other collectors' samples. The metering
/// gateway counts its requests here too, under `source="gateway"` (cloud upstreams) or
/// `"gateway_local"` (local ones), with `usage="estimated"` where the answer reported none.
///
/// A report is saved in the `CounterStore` before it is acknowledged, so a restart loses
/// nothing. Attributes are limited to the configured names, each to a number of distinct
/// values: later values count as `other`, so a buggy client cannot explode the series count.
/// The series as a whole are capped too: past the cap, a report of a new model or provider
/// counts under `model="other", provider="other"`, so its tokens still add up.
/// A new series is first reported at 0, so that its first tokens show as an increase.
package final class UsageCollector: Collector {
    package let name = "usage_api"
    static let source = TokenSource.usageAPI
    static let overflowValue = "other"

    private let store: CounterStore?
    private let allowedAttributes: Set<String>
    /// The node's attribution, for reports that do not name their own.
    private let defaultAttributes: [String: String]
    private let maxValuesPerAttribute: Int
    private let maxSeries: Int
    private let state: Mutex<State>

    private struct Tally {
        var series: ExpositionSample
        var total: Double
        /// Reported once at 0 already.
        var announced: Bool

        var entry: CounterStore.Entry {
            CounterStore.Entry(series: series, counter: MonotonicCounter(last: announced ? total : nil, total: total))
        }
    }

    private struct State {
        var tallies: [String: Tally] = [:]
        var values: [String: Set<String>] = [:]
        /// Reports counted as `other`, by the label that overflowed (`model` for the series cap).
        var overflowed: [String: Int] = [:]
        /// Attributes left out of reports because their name is not allowed.
        var droppedAttributes = 0
        /// OTLP data points rejected one by one.
        var rejectedOTLPPoints = 0
        /// Report ids seen, when there is no store to remember them.
        var reportIDs: Set<String> = []
        var reports: [String: Int] = ["accepted": 0, "duplicate": 0, "rejected": 0]
    }

    /// What became of one request's reports.
    package struct Outcome: Equatable {
        var accepted = 0
        /// Reports whose id was seen before (within a day, or earlier in the request): not counted again.
        var duplicates = 0
        /// Attribute names left out: not in the allow-list.
        var droppedAttributes: Set<String> = []
        /// Attribute names whose value counted as `other`: past the cap.
        var overflowedAttributes: Set<String> = []
    }

    package init(store: CounterStore?, attributes: [String], defaults: [String: String] = [:], maxValuesPerAttribute: Int, maxSeries: Int = 10_000) throws {
        self.store = store
        allowedAttributes = Set(attributes)
        defaultAttributes = defaults
        self.maxValuesPerAttribute = maxValuesPerAttribute
        self.maxSeries = maxSeries
        var state = State()
        for (key, entry) in try store?.load(scope: name) ?? [:] {
            state.tallies[key] = Tally(series: entry.series, total: entry.counter.total ?? 0, announced: entry.counter.last != nil)
            for label in entry.series.labels where allowedAttributes.contains(label.name) && label.value != UsageCollector.overflowValue {
                state.values[label.name, default: []].insert(label.value)
            }
        }
        self.state = Mutex(state)
    }

    /// Counts the reports of one request and saves them, with the OTLP `streams` they were read
    /// from; all of them or, when saving fails, none.
    package func record(_ reports: [UsageReport], streams: [String: CounterStore.Stream] = [:]) throws -> Outcome {
        try state.withLock { state in
            var outcome = Outcome()
            var values = state.values
            var touched: [String: Tally] = [:]
            var newSeries = 0  // in `touched` and not in `state.tallies`
            var dropped = 0
            let ids = reports.compactMap(\.id)
            var seen = try store?.seenReportIDs(ids) ?? state.reportIDs.intersection(ids)
            for report in reports {
                if let id = report.id {
                    guard seen.insert(id).inserted else {
                        outcome.duplicates += 1
                        continue
                    }
                }
                var labels = [Label("model", report.model), Label("provider", report.provider), Label("source", report.source)]
                if report.estimated { labels.append(Label("usage", "estimated")) }
                // The node's attribution fills what a report leaves out.
                for (attribute, value) in defaultAttributes.merging(report.attributes, uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
                    guard allowedAttributes.contains(attribute) else {
                        outcome.droppedAttributes.insert(attribute)
                        dropped += 1
                        continue
                    }
                    var seen = values[attribute, default: []]
                    if seen.contains(value) || seen.count < maxValuesPerAttribute {
                        seen.insert(value)
                        values[attribute] = seen
                        labels.append(Label(attribute, value))
                    } else {
                        outcome.overflowedAttributes.insert(attribute)
                        state.overflowed[attribute, default: 0] += 1
                        labels.append(Label(attribute, UsageCollector.overflowValue))
                    }
                }
                labels.sort { $0.name < $1.name }
                // A report makes at most five series (four token types and requests).
                let requestsKey = MetricDescriptor.requests.sample(labels, 0).seriesText
                if state.tallies[requestsKey] == nil && touched[requestsKey] == nil
                    && state.tallies.count + newSeries + 5 > maxSeries {
                    outcome.overflowedAttributes.insert("model")
                    state.overflowed["model", default: 0] += 1
                    labels = [Label("model", UsageCollector.overflowValue), Label("provider", UsageCollector.overflowValue),
                              Label("source", report.source)]
                }
                let counts: [(TokenType, Int)] = [(.input, report.inputTokens), (.output, report.outputTokens),
                                                  (.cachedInput, report.cachedInputTokens), (.reasoning, report.reasoningTokens)]
                for (type, count) in counts where count > 0 {
                    newSeries += add(Double(count), to: MetricDescriptor.tokens.sample((labels + [Label("type", type.rawValue)]).sorted { $0.name < $1.name }, 0),
                                     tallies: state.tallies, touched: &touched)
                }
                newSeries += add(Double(report.requests), to: MetricDescriptor.requests.sample(labels, 0), tallies: state.tallies, touched: &touched)
                outcome.accepted += 1
            }
            try store?.save(scope: name, touched.mapValues(\.entry), reportIDs: ids, streams: streams)
            if store == nil { state.reportIDs.formUnion(ids) }
            state.tallies.merge(touched) { _, new in new }
            state.values = values
            state.droppedAttributes += dropped
            state.reports["accepted", default: 0] += outcome.accepted
            state.reports["duplicate", default: 0] += outcome.duplicates
            return outcome
        }
    }

    /// Counts a request refused as invalid.
    func rejected() {
        state.withLock { $0.reports["rejected", default: 0] += 1 }
    }

    /// Counts OTLP data points rejected in an export whose rest was taken.
    func rejectedOTLPPoints(_ points: Int) {
        state.withLock { $0.rejectedOTLPPoints += points }
    }

    /// Adds to a series' tally; 1 when the series is new, else 0.
    private func add(_ count: Double, to series: ExpositionSample, tallies: [String: Tally], touched: inout [String: Tally]) -> Int {
        let key = series.seriesText
        let known = touched[key] ?? tallies[key]
        var tally = known ?? Tally(series: series, total: 0, announced: false)
        tally.total += count
        touched[key] = tally
        return known == nil ? 1 : 0
    }

    package func collect() async throws(CollectorError) -> [ExpositionSample] {
        try state.withLock { state throws(CollectorError) in
            var samples: [ExpositionSample] = []
            var announcing: [String: Tally] = [:]
            for (key, tally) in state.tallies {
                samples.append(ExpositionSample(name: tally.series.name, labels: tally.series.labels, value: tally.announced ? tally.total : 0))
                if !tally.announced { announcing[key] = Tally(series: tally.series, total: tally.total, announced: true) }
            }
            // Announced only once that is saved: announcing a series twice (0 after its total)
            // would read as a reset and count its tokens again.
            do {
                try store?.save(scope: name, announcing.mapValues(\.entry))
            } catch {
                throw .failed("cannot save the usage counters: \(error)")
            }
            state.tallies.merge(announcing) { _, new in new }
            for (outcome, count) in state.reports {
                samples.append(MetricDescriptor.usageReports.sample([Label("outcome", outcome)], Double(count)))
            }
            for attribute in allowedAttributes.union(["model"]) {
                samples.append(MetricDescriptor.usageAttributeOverflow.sample([Label("attribute", attribute)], Double(state.overflowed[attribute] ?? 0)))
            }
            samples.append(MetricDescriptor.usageDroppedAttributes.sample(Double(state.droppedAttributes)))
            samples.append(MetricDescriptor.usageOTLPRejectedPoints.sample(Double(state.rejectedOTLPPoints)))
            return samples.sorted { $0.seriesText < $1.seriesText }
        }
    }
}
