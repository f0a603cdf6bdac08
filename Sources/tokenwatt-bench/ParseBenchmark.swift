import ArgumentParser
import Foundation
import TokenWattCore

/// The agent's exposition parser on a file (an inference server's `/metrics`): MB/s and
/// samples/s, the median of several runs.
struct ParseBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "parse", abstract: "Exposition parse throughput on a file.")

    @Argument(help: "A Prometheus text exposition.") var file: String
    @Option(help: "Runs; the median is reported.") var repeats = 5

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
        let bytes = [UInt8](data)
        let parser = ExpositionParser(format: .prometheusText)
        var seconds: [Double] = []
        var samples = 0
        let clock = ContinuousClock()
        for _ in 0..<repeats {
            let started = clock.now
            let families = try parser.parse(bytes: bytes)
            seconds.append(started.duration(to: clock.now).seconds)
            samples = families.reduce(0) { $0 + $1.samples.count }
        }
        let median = Latencies.median(seconds)
        print(String(format: "tokenwatt parser: %d bytes, %d samples, median %.3f s: %.1f MB/s, %.0f samples/s",
                     bytes.count, samples, median, Double(bytes.count) / median / 1e6, Double(samples) / median))
    }
}
