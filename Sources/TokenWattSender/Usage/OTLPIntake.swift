import Synchronization
import TokenWattCore

/// What a sender makes of an OTLP metrics export (`POST /v1/metrics`): GenAI token usage
/// (`GenAIUsage`) counted as usage reports are (`source="usage_api"`: an application's own
/// account of its calls, cloud spend by the same rule), and every other metric relayed to the
/// aggregator as series through the spool, by Prometheus's translation (`OTLPTranslation`).
///
/// Cumulative usage is counted by its increase since the stream's last export (a new start
/// time, or a value below the last, is a restart from zero); deltas as they come; relayed
/// delta sums become counters by adding each delta to the last value relayed. Where each
/// stream stood is saved with the usage it counted, in one transaction, so a restart neither
/// loses nor repeats a count; an export sent again (a retry) is a cumulative stream's same
/// value, or a relayed delta's same timestamp, and counts once. A delta of usage sent again
/// counts again, as it does everywhere OTLP deltas are summed.
package final class OTLPIntake: Sendable {
    private let usage: UsageCollector
    private let spool: Spool
    private let pusher: Pusher
    private let store: CounterStore?
    private let sources: GenAIUsage.AttributeSources
    /// Held across a whole export: two exports of one stream are counted one after the other.
    private let streams: Mutex<[String: CounterStore.Stream]>

    package init(usage: UsageCollector, spool: Spool, pusher: Pusher, store: CounterStore?, sources: GenAIUsage.AttributeSources) throws {
        self.usage = usage
        self.spool = spool
        self.pusher = pusher
        self.store = store
        self.sources = sources
        streams = Mutex(try store?.loadStreams() ?? [:])
    }

    /// What became of one export.
    package struct Outcome: Sendable, Equatable {
        package var relayedSamples = 0
        package var rejections = OTLPRejections()
    }

    /// Counts an export refused whole (it did not decode, or passed a bound).
    func refused() {
        usage.rejected()
    }

    /// Counts an export's usage and relays the rest; throws when either cannot be saved, and
    /// then nothing of it was counted.
    package func take(_ export: OTLPExport, now: Int64, maxFutureSkewMs: Int64) throws -> Outcome {
        try streams.withLock { streams in
            let read = GenAIUsage.read(export, sources: sources)
            var updated: [String: CounterStore.Stream] = [:]
            let reports = OTLPIntake.reports(read.readings, streams: streams, updated: &updated)
            let translation = OTLPTranslation(read.rest, now: now, maxFutureSkewMs: maxFutureSkewMs)
            let (relayed, relayRejections) = OTLPIntake.relayed(translation.series, streams: streams, updated: &updated)
            var outcome = Outcome(relayedSamples: relayed.reduce(0) { $0 + $1.samples.count })
            if !relayed.isEmpty {
                try spool.append(body: RemoteWriteCodec.serialize(relayed), samples: outcome.relayedSamples, now: now)
            }
            _ = try usage.record(reports, streams: updated)
            streams.merge(updated) { _, new in new }
            if !relayed.isEmpty { pusher.notify() }
            outcome.rejections = read.rejections
            outcome.rejections.add(translation.rejections)
            outcome.rejections.add(relayRejections)
            usage.rejectedOTLPPoints(outcome.rejections.count)
            return outcome
        }
    }

    /// The usage reports of the readings: each stream's increase, summed by model, provider
    /// and attributes.
    static func reports(_ readings: [GenAIUsage.Reading], streams: [String: CounterStore.Stream],
                        updated: inout [String: CounterStore.Stream]) -> [UsageReport] {
        var reports: [String: UsageReport] = [:]
        var order: [String] = []
        for reading in readings {
            var increase = reading.value
            if reading.cumulative {
                let before = updated[reading.stream] ?? streams[reading.stream]
                if let before, before.start == reading.start, reading.value >= before.last { increase = reading.value - before.last }
                updated[reading.stream] = CounterStore.Stream(start: reading.start, last: reading.value)
            }
            let count = Int(increase.rounded())
            let key = "\(reading.model)|\(reading.provider)|" + reading.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            if reports[key] == nil {
                var report = UsageReport(model: reading.model, provider: reading.provider)
                report.attributes = reading.attributes
                report.requests = 0
                reports[key] = report
                order.append(key)
            }
            switch reading.measure {
            case .requests: reports[key]!.requests += count
            case .tokens(.input): reports[key]!.inputTokens += count
            case .tokens(.output): reports[key]!.outputTokens += count
            case .tokens(.cachedInput): reports[key]!.cachedInputTokens += count
            case .tokens(.reasoning): reports[key]!.reasoningTokens += count
            }
        }
        return order.compactMap { reports[$0] }.filter { $0.requests + $0.inputTokens + $0.outputTokens + $0.cachedInputTokens + $0.reasoningTokens > 0 }
    }

    /// The relayed series: delta ones as counters, each delta added to the last value relayed
    /// (one that the total cannot hold, or a second at one timestamp, is left out, counted).
    static func relayed(_ series: [OTLPTranslation.Series], streams: [String: CounterStore.Stream],
                        updated: inout [String: CounterStore.Stream]) -> (series: [TimeSeries], rejections: OTLPRejections) {
        var rejections = OTLPRejections()
        let relayed = series.compactMap { one -> TimeSeries? in
            guard one.delta else { return TimeSeries(labels: one.labels, samples: one.samples) }
            let key = "relay|\(one.labels)"
            let total = (updated[key] ?? streams[key])?.last ?? 0
            let accumulated = DeltaTotals.accumulate(one.samples, onto: Sample(timestamp: .min, value: total))
            rejections.add(accumulated.late, DeltaTotals.lateReason)
            rejections.add(accumulated.overflowing, DeltaTotals.overflowReason)
            updated[key] = CounterStore.Stream(start: 0, last: accumulated.samples.last?.value ?? total)
            return accumulated.samples.isEmpty ? nil : TimeSeries(labels: one.labels, samples: accumulated.samples)
        }
        return (relayed, rejections)
    }
}
