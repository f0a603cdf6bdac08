import ArgumentParser
@_spi(Benchmark) import TokenWattCore

/// Remote-write decoding alone, the wire decoder beside swift-protobuf's on the same request
/// (a fleet push: series of a dozen labels, a few samples each): samples/s, the median of runs.
struct DecodeBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decode", abstract: "Remote-write decode throughput, ours beside swift-protobuf's.")

    @Option(help: "Series in the request.") var series = 10_000
    @Option(help: "Samples per series.") var samples = 6
    @Option(help: "Runs; the median is reported.") var repeats = 9

    func run() async throws {
        let request = (0..<series).map { index in
            TimeSeries(labels: try! LabelSet(dictionary: ["__name__": MetricDescriptor.gpuPowerWatts.seriesName, "node": "gpu-\(index / 100)", "gpu": "\(index % 8)",
                                                          "uuid": "GPU-\(index)-8f3c2a1e", "model": "llama-3.1-70b-instruct", "site": "fra1", "rack": "r\(index % 40)",
                                                          "team": "research", "class": "h200", "provider": "local", "job": "tokenwatt"]),
                       samples: (0..<samples).map { Sample(timestamp: 1_800_000_000_000 + Int64($0) * 10_000, value: Double(index) + 0.5) })
        }
        let raw = RemoteWriteCodec.serialize(request)
        let clock = ContinuousClock()
        var medians: [String: Double] = [:]
        for (name, decode) in [("swift-protobuf", RemoteWriteDecoding.swiftProtobuf), ("tokenwatt wire", RemoteWriteDecoding.wire)] {
            var seconds: [Double] = []
            for _ in 0..<repeats {
                let started = clock.now
                guard try decode(raw).count == series else { throw ValidationError("\(name) decoded the wrong number of series") }
                seconds.append(started.duration(to: clock.now).seconds)
            }
            medians[name] = Latencies.median(seconds)
            print(String(format: "%@: %d bytes, %d samples, median %.2f ms: %.0f samples/s", name, raw.count, series * samples,
                         medians[name]! * 1000, Double(series * samples) / medians[name]!))
        }
        print(String(format: "ratio: %.2f× swift-protobuf's samples/s", medians["swift-protobuf"]! / medians["tokenwatt wire"]!))
    }
}
