import Foundation
import TokenWattCore
import TokenWattService

/// What a daemon that sends samples to the aggregator is configured with: the aggregator and
/// its credential, the spool, how often it collects, and the usage labels it keeps. The agent's
/// config and the gateway's read these keys (`aggregator`, `spool`, `interval`, `usage`) alike.
public struct SenderConfiguration: Sendable, Equatable {
    /// The aggregator's remote-write endpoint; a base URL given in the config or on the command
    /// line gets `/api/v1/write` (`RemoteWriteCodec.writeURL`).
    public var aggregatorURL = "http://127.0.0.1:9470/api/v1/write"
    /// Bearer token for the aggregator; none for a local aggregator with built-in defaults.
    public var token: String?
    /// How the aggregator's certificate is checked, and the sender's own (`aggregator.tls_config`).
    public var aggregatorTLS: TLSClientConfiguration?
    /// The spool's folder, and its bounds: past them the oldest batches are dropped, counted.
    public var spoolDirectory: String
    public var spoolMaxBytes = 256 << 20
    public var spoolMaxAgeMs: Int64 = Milliseconds.day
    /// How often collectors run unless they have their own interval.
    public var intervalMs: Int64 = 10_000
    /// Attribute names usage may carry as labels, and how many values each may take before the
    /// rest count as `other`.
    public var usageAttributes = ["team", "project", "agent"]
    public var usageMaxValuesPerAttribute = 100
    /// Most usage series (models × providers × attribute values × types) kept; past it, new
    /// models and providers count as `other` (default 10,000).
    public var usageMaxSeries = 10_000

    /// Labels a usage attribute may not take: they are the sender's or the aggregator's own.
    public static let reservedLabels: Set<String> = ["model", "provider", "type", "source", "usage", "server", "role", "node", "instance", "job", "le", "quantile"]

    public init(spoolDirectory: String) {
        self.spoolDirectory = spoolDirectory
    }

    /// Reads `aggregator`, `spool`, `interval` and `usage` from a config's root; `usage` may hold
    /// `moreUsageKeys` too, the daemon's own.
    mutating func parse(_ root: ConfigNode, environment: [String: String], moreUsageKeys: Set<String> = []) throws(CoreError) {
        let aggregator = root["aggregator"]
        try aggregator.requireMapping(allowing: ["url", "token_file", "token_env", "tls_config"])
        aggregatorTLS = try TLSClientConfiguration(aggregator["tls_config"])
        aggregatorURL = try aggregator["url"].string(default: aggregatorURL)
        guard aggregatorURL.hasPrefix("http://") || aggregatorURL.hasPrefix("https://") else {
            throw aggregator["url"].error("an http:// or https:// URL, got \"\(aggregatorURL)\"")
        }
        aggregatorURL = RemoteWriteCodec.writeURL(aggregatorURL)
        token = try aggregator.secret(named: "token", environment: environment)
        intervalMs = try root["interval"].durationMilliseconds(default: intervalMs)
        let spool = root["spool"]
        try spool.requireMapping(allowing: ["directory", "max_size", "max_age"])
        spoolDirectory = try spool["directory"].string(default: spoolDirectory)
        spoolMaxBytes = try spool["max_size"].byteSize(default: spoolMaxBytes)
        spoolMaxAgeMs = try spool["max_age"].durationMilliseconds(default: spoolMaxAgeMs)
        let usage = root["usage"]
        let allowed: Set<String> = ["attributes", "max_values_per_attribute", "max_series"]
        try usage.requireMapping(allowing: allowed.union(moreUsageKeys))
        if usage["attributes"].isPresent {
            usageAttributes = try usage["attributes"].items().map { item throws(CoreError) in
                guard let name = try item.string(), MetricName.isValidLabelName(name), !name.hasPrefix("__") else {
                    throw item.error("a label name such as team")
                }
                guard !Self.reservedLabels.contains(name) else {
                    throw item.error("a name other than \(Self.reservedLabels.sorted().joined(separator: ", ")) (TokenWatt sets those)")
                }
                return name
            }
        }
        usageMaxValuesPerAttribute = try usage["max_values_per_attribute"].int(default: usageMaxValuesPerAttribute)
        guard usageMaxValuesPerAttribute > 0 else { throw usage["max_values_per_attribute"].error("a positive number") }
        usageMaxSeries = try usage["max_series"].int(default: usageMaxSeries)
        guard usageMaxSeries >= 5 else { throw usage["max_series"].error("a number of series, at least 5") }
    }

    /// Applies the flags both daemons take (`--aggregator`, `--token-file`, `--interval`);
    /// `invalid` makes the command line's error from a message.
    public mutating func apply(aggregator: String?, tokenFile: String?, interval: String?, invalid: (String) -> any Error) throws {
        if let aggregator {
            guard aggregator.hasPrefix("http://") || aggregator.hasPrefix("https://") else {
                throw invalid("--aggregator expects an http:// or https:// URL, got \(aggregator)")
            }
            aggregatorURL = RemoteWriteCodec.writeURL(aggregator)
        }
        if let tokenFile {
            guard let token = try? String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
                throw invalid("--token-file \(tokenFile) is not a readable file holding a token")
            }
            self.token = token
        }
        if let interval {
            guard let milliseconds = ConfigDuration.milliseconds(interval) else {
                throw invalid("--interval expects a duration such as 10s or 1m, got \(interval)")
            }
            intervalMs = milliseconds
        }
    }
}
