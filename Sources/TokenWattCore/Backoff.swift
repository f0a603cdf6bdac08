import Foundation

/// Retry timing shared by everything that sends over HTTP (the agent's pusher, the alert
/// delivery worker, the remote-write forwarder).
public enum Backoff {
    /// Doubles from `minimum` per failure up to `maximum`, with jitter (a random 50–100 %) so
    /// senders coming back do not arrive at once, and never shorter than what the server asked.
    public static func delay(failures: Int, minimum: Duration, maximum: Duration, retryAfter: Duration? = nil) -> Duration {
        let doubled = minimum * (1 << min(max(failures, 1) - 1, 20))
        let capped = min(doubled, maximum)
        return max(capped * Double.random(in: 0.5...1.0), retryAfter ?? .zero)
    }

    /// A `Retry-After` header: seconds, or an HTTP date (a date past is zero).
    public static func retryAfter(_ value: String) -> Duration? {
        if let seconds = Int(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value).map { .milliseconds(max(0, Int($0.timeIntervalSinceNow * 1000))) }
    }
}
