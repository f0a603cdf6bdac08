import Testing
import SwiftProtobuf
@testable import TokenWattCore

@Suite struct RemoteWriteCodecTests {
    @Test func roundTripKeepsLabelsSamplesNaNAndStaleMarkers() throws {
        let series = [
            TimeSeries(labels: try LabelSet(dictionary: ["__name__": "tokenwatt_gpu_power_watts", "gpu": "0", "uuid": "GPU-1"]),
                       samples: [Sample(timestamp: 1_000, value: 312.5), Sample(timestamp: 2_000, value: .infinity)]),
            TimeSeries(labels: try LabelSet(dictionary: ["__name__": "up"]),
                       samples: [Sample(timestamp: 3_000, value: Sample.staleMarker)]),
        ]
        let decoded = try RemoteWriteCodec.decode(RemoteWriteCodec.encode(series))
        #expect(decoded == series)
        #expect(decoded[1].samples[0].isStaleMarker)
    }

    private func body(_ labels: [(String, String)]) -> [UInt8] {
        var message = Prometheus_TimeSeries()
        message.labels = labels.map { var label = Prometheus_Label(); label.name = $0.0; label.value = $0.1; return label }
        var request = Prometheus_WriteRequest()
        request.timeseries = [message]
        return Snappy.compress(try! request.serializedBytes())
    }

    @Test(arguments: [
        ([("job", "a"), ("__name__", "up")], CoreError.unsortedLabels("__name__")),
        ([("__name__", "up"), ("a", "1"), ("a", "2")], .duplicateLabelName("a")),
        ([("__name__", "up"), ("a", "")], .emptyLabelValue(labelName: "a")),
        ([("__name__", "9up")], .invalidMetricName("9up")),
        ([("__name__", "up"), ("a-b", "1")], .invalidLabelName("a-b")),
        ([("__meta", "1"), ("__name__", "up")], .reservedLabelName("__meta")),
        ([("job", "a")], .missingMetricName),
    ])
    func rejectsSeriesThatBreakTheLabelRules(labels: [(String, String)], error: CoreError) {
        #expect(throws: error) { try RemoteWriteCodec.decode(body(labels)) }
    }

    @Test func rejectsCorruptSnappyAndProtobuf() {
        #expect(throws: CoreError.snappy("invalid block header")) { try RemoteWriteCodec.decode([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) }
        #expect(throws: CoreError.self) { try RemoteWriteCodec.decode(Snappy.compress([0x0A, 0x05, 0x01])) }
    }

    @Test func refusesBlocksThatDecompressOverTheLimit() {
        let big = Snappy.compress([UInt8](repeating: 7, count: 10_000))
        #expect(throws: CoreError.tooLarge("snappy block decompresses to 10000 bytes, over the limit of 1000")) {
            try Snappy.decompress(big, limit: 1000)
        }
        #expect(big.count < 1000)
    }
}

@Suite struct LabelSetTests {
    @Test func sortsDropsEmptyAndSetsLabels() throws {
        let labels = try LabelSet(validating: [Label("z", "1"), Label("__name__", "m"), Label("a", ""), Label("b", "2")])
        #expect(labels.labels == [Label("__name__", "m"), Label("b", "2"), Label("z", "1")])
        #expect(labels.setting("node", to: "gpu-1").labels.map(\.name) == ["__name__", "b", "node", "z"])
        #expect(labels.setting("b", to: "3")["b"] == "3")
        #expect(labels.description == "m{b=\"2\",z=\"1\"}")
    }

    /// `setting` keeps the set sorted and unique wherever the name falls, as sorting would.
    @Test(arguments: ["A", "__name__", "a", "b", "c", "z", "zz"])
    func settingALabelKeepsTheSetSortedAndUnique(name: String) throws {
        let labels = try LabelSet(validating: [Label("__name__", "m"), Label("b", "2"), Label("z", "1")])
        let set = labels.setting(name, to: "v")
        var expected = Dictionary(uniqueKeysWithValues: labels.labels.map { ($0.name, $0.value) })
        expected[name] = "v"
        #expect(set.labels == expected.sorted { $0.key < $1.key }.map { Label($0.key, $0.value) })
    }
}

@Suite struct SelectorTests {
    let labels = try! LabelSet(dictionary: ["__name__": "node_load1", "node": "gpu-01", "job": "node"])

    @Test(arguments: [
        ("node_load1", true), ("node_load5", false), ("{__name__=~\"node_load.*\"}", true),
        ("node_load1{node=\"gpu-01\"}", true), ("node_load1{node!=\"gpu-01\"}", false),
        ("{node=~\"gpu-.*\", job!~\"x|y\"}", true), ("{node=~\"gpu\"}", false), ("node_load1{site=\"\"}", true),
        ("node_load1{node=~'gpu-\\\\d+'}", true), ("node_load1{node=~\"gpu-\\d+\"}", true),
    ])
    func matchesLikePrometheus(selector: String, matches: Bool) throws {
        #expect(try SeriesSelector(parsing: selector).matches(labels) == matches)
    }

    @Test(arguments: ["", "{}", "{a=\"\"}", "m{a=}", "m{a=\"1\"", "m{a~\"1\"}", "m{a=~\"(\"}", "m x"])
    func rejectsBadSelectors(selector: String) {
        #expect(throws: CoreError.self) { try SeriesSelector(parsing: selector) }
    }
}

@Suite struct ConfigValueTests {
    @Test(arguments: [("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000), ("15d", 1_296_000_000),
                      ("500ms", 500), ("5y", 157_680_000_000)] as [(String, Int64)])
    func parsesPrometheusDurations(text: String, milliseconds: Int64) {
        #expect(ConfigDuration.milliseconds(text) == milliseconds)
    }

    @Test(arguments: ["", "5", "m", "5 m", "-5m", "1.5h"])
    func rejectsMalformedDurations(text: String) {
        #expect(ConfigDuration.milliseconds(text) == nil)
    }

    @Test(arguments: [("1048576", 1_048_576), ("16MiB", 16 << 20), ("2KB", 2000), ("1 GiB", 1 << 30)])
    func parsesByteSizes(text: String, bytes: Int) {
        #expect(ConfigByteSize.parse(text) == bytes)
    }
}
