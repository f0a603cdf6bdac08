import Synchronization
import TokenWattConfiguration

/// Per-caller rate caps (`callers[].rate_limit`): requests are counted as they are admitted,
/// tokens as their answers end, both over the last minute. A caller past either cap is refused
/// for its cool-down, with the rate that tripped it.
final class CallerRateGuard: Sendable {
    static let windowMs: Int64 = 60_000

    private struct Usage {
        var requests: [Int64] = []
        var tokens: [(at: Int64, count: Int)] = []
        var blockedUntil: Int64 = 0
        var reason = ""

        mutating func prune(before start: Int64) {
            requests.removeAll { $0 <= start }
            tokens.removeAll { $0.at <= start }
        }
    }

    private let usage = Mutex<[String: Usage]>([:])

    /// Nil when the caller may go on (the request is counted), else why not and until when.
    func admit(_ caller: GatewayConfiguration.Caller, now: Int64) -> (reason: String, untilMs: Int64)? {
        guard let limit = caller.rateLimit else { return nil }
        return usage.withLock { callers in
            var entry = callers[caller.key] ?? Usage()
            defer { callers[caller.key] = entry }
            entry.prune(before: now - CallerRateGuard.windowMs)
            if now < entry.blockedUntil { return (entry.reason, entry.blockedUntil) }
            let tokens = entry.tokens.reduce(0) { $0 + $1.count }
            var reason: String?
            if let cap = limit.requestsPerMinute, entry.requests.count >= cap {
                reason = "\(entry.requests.count) requests in the last minute, the cap is \(cap)"
            } else if let cap = limit.tokensPerMinute, tokens >= cap {
                reason = "\(tokens) tokens in the last minute, the cap is \(cap)"
            }
            if let reason {
                entry.blockedUntil = now + limit.coolDownMs
                entry.reason = reason
                return (reason, entry.blockedUntil)
            }
            entry.requests.append(now)
            return nil
        }
    }

    /// The tokens an admitted request used.
    func used(_ tokens: Int, by caller: GatewayConfiguration.Caller, now: Int64) {
        guard caller.rateLimit?.tokensPerMinute != nil else { return }
        usage.withLock { $0[caller.key, default: Usage()].tokens.append((now, tokens)) }
    }
}

/// The sessions the gateway tells apart (`sessions.max_active`): a session seen in the last
/// hour keeps its name; past the cap a new one is held as the one `overflow` session (its caps
/// held for all of them together: stricter, never looser), and counted.
final class SessionTable: Sendable {
    static let idleMs: Int64 = 3_600_000
    static let overflow = "overflow"

    let maxActive: Int
    private let seen = Mutex<[String: Int64]>([:])

    init(maxActive: Int) {
        self.maxActive = maxActive
    }

    /// The session a request's header names, as its caps hold it, and whether it overflowed.
    func session(_ name: String, now: Int64) -> (name: String, overflowed: Bool) {
        seen.withLock { seen in
            if seen[name] == nil, seen.count >= maxActive {
                seen = seen.filter { $0.value > now - SessionTable.idleMs }
                guard seen.count < maxActive else { return (SessionTable.overflow, true) }
            }
            seen[name] = now
            return (name, false)
        }
    }
}
