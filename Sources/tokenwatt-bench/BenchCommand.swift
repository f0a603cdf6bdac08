import ArgumentParser

/// `tokenwatt-bench`: load generators that print TokenWatt's figures.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenwatt-bench",
        abstract: "Benchmarks for TokenWatt; each prints figures to set beside a peer's from the same run.",
        subcommands: [IngestBenchmark.self, UsageBenchmark.self, ParseBenchmark.self, DecodeBenchmark.self, AlertLatencyBenchmark.self, FleetBenchmark.self,
                      GatewayUpstreamBenchmark.self, GatewayBenchmark.self, WebBenchmark.self])
}
