import Synchronization
import TokenWattConfiguration
import TokenWattCore

/// A cap held per session applies its runaway rule to each session's own rate: the worst-case
/// tokens its gateways admitted for it, as their lease reports say, over the rule's window
/// against the baseline before it. A session whose rule fires is refused while it fires and
/// for the rule's cool-down after. Kept in memory: a restart forgets the rates, as it would
/// a budget's window of samples.
final class SessionRunaways: Sendable {
    /// Sessions followed at most; the longest idle go first.
    static let maxSessions = 100_000

    private struct Track {
        /// Each slice's latest count (slices of several gateways add up).
        var slices: [String: Double] = [:]
        /// The session's total at each report, oldest first.
        var totals: [(ms: Int64, tokens: Double)] = []
        var firing = false
        var rate = 0.0
        var baseline = 0.0
        var endedMs: Int64?

        var total: Double { slices.values.reduce(0, +) }

        /// The total at `time`: the last one reported by then (0 before the session began).
        func total(at time: Int64) -> Double {
            totals.last { $0.ms <= time }?.tokens ?? 0
        }
    }

    private let tracks = Mutex<[String: Track]>([:])

    /// A report of `slice`'s `tokens` for the session `key` of `cap`: whether its rule now
    /// refuses the session, with its rate and baseline and until when (nil: while it fires).
    func observe(key: String, slice: String, tokens: Double, cap: Budget, now: Int64) -> (rate: Double, baseline: Double, untilMs: Int64?)? {
        guard let rule = cap.runaway else { return nil }
        return tracks.withLock { tracks in
            if tracks[key] == nil, tracks.count >= SessionRunaways.maxSessions,
               let idle = tracks.min(by: { ($0.value.totals.last?.ms ?? 0) < ($1.value.totals.last?.ms ?? 0) })?.key {
                tracks[idle] = nil
            }
            var track = tracks[key] ?? Track()
            defer { tracks[key] = track }
            track.slices[slice] = max(track.slices[slice] ?? 0, tokens)
            track.totals.append((now, track.total))
            track.totals.removeAll { $0.ms < now - rule.windowMs - rule.baselineMs - 60_000 }
            let windowStart = now - rule.windowMs
            track.rate = (track.total - track.total(at: windowStart)) / (Double(rule.windowMs) / 1000)
            track.baseline = (track.total(at: windowStart) - track.total(at: windowStart - rule.baselineMs)) / (Double(rule.baselineMs) / 1000)
            let fires = rule.fires(rate: track.rate, baseline: track.baseline)
            if track.firing && !fires { track.endedMs = now }
            track.firing = fires
            if fires { return (track.rate, track.baseline, nil) }
            if let ended = track.endedMs, now < ended + rule.coolDownMs { return (track.rate, track.baseline, ended + rule.coolDownMs) }
            return nil
        }
    }
}
