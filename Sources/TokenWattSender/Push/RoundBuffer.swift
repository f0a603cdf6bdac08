import Foundation
import Logging
import Synchronization
import TokenWattCore

/// Gathers what the collectors of one round report and writes it to the spool as one batch:
/// collectors that share the interval finish within milliseconds of each other, and one
/// transaction and one push per round cost a fraction of one per collector.
package final class RoundBuffer: Sendable {
    /// How long the first output of a round waits for the others before it is written.
    static let linger: Duration = .milliseconds(50)

    private struct State {
        var series: [TimeSeries] = []
        var flushScheduled = false
    }

    private let spool: Spool
    private let pusher: Pusher
    private let logger: Logger
    private let state = Mutex(State())

    package init(spool: Spool, pusher: Pusher, logger: Logger) {
        self.spool = spool
        self.pusher = pusher
        self.logger = logger
    }

    /// Adds one collector run's samples, taken at `timestamp` (ms).
    package func add(_ samples: [ExpositionSample], at timestamp: Int64) {
        let series = samples.compactMap { sample -> TimeSeries? in
            guard let labels = try? LabelSet(validating: [Label(LabelSet.metricNameLabel, sample.name)] + sample.labels) else {
                logger.error("collector produced an invalid series; not pushed", metadata: ["series": "\(sample.name)\(sample.labels)"])
                return nil
            }
            return TimeSeries(labels: labels, samples: [Sample(timestamp: timestamp, value: sample.value)])
        }
        let scheduleFlush = state.withLock { state in
            state.series += series
            defer { state.flushScheduled = true }
            return !state.flushScheduled
        }
        if scheduleFlush {
            Task {
                try? await Task.sleep(for: RoundBuffer.linger)
                self.flush()
            }
        }
    }

    /// Queues what is gathered in the spool as one batch and tells the pusher.
    package func flush() {
        let series = state.withLock { state in
            defer { state = State() }
            return state.series
        }
        guard !series.isEmpty else { return }
        do {
            let now = TimeBounds.nowMilliseconds()
            let dropped = try spool.enqueue(body: RemoteWriteCodec.serialize(series), samples: series.count, now: now)
            for (reason, count) in dropped {
                logger.warning("spool full: dropped the oldest samples", metadata: ["reason": "\(reason.rawValue)", "samples": "\(count)"])
            }
            pusher.notify()
        } catch {
            // The spool keeps what it held; this round is lost, counted, and the next is tried.
            spool.countUnwritten(samples: series.count)
            logger.error("cannot write to the spool; this round's samples are lost", metadata: ["error": "\(error)", "samples": "\(series.count)"])
        }
    }
}
