import FuzzDriver
@_spi(Fuzzing) import TokenWattSender
import TokenWattCore

/// An OTLP/HTTP metrics body, read as the receivers read it: as protobuf and as JSON, each
/// refused with a reason or decoded within the bounds; what decodes translates into series
/// and usage without a trap, and every series it makes has labels the store would take.
@_cdecl("fuzz_otlp_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let body = bytes(data, count)
    for encoding in [OTLPCodec.Encoding.protobuf, .json] {
        guard let export = try? OTLPCodec.decode(body, encoding: encoding, contentEncoding: nil, maxDecodedBytes: 1 << 20) else { continue }
        let translation = OTLPTranslation(export, now: 1_800_000_000_000, maxFutureSkewMs: 600_000)
        for series in translation.series {
            precondition((try? LabelSet(validating: series.labels.labels)) == series.labels, "a translated series with labels the store refuses")
            precondition(!series.samples.isEmpty, "a translated series without samples")
        }
        precondition(translation.rejections.count <= export.dataPoints, "more points rejected than the export holds")
        let usage = GenAIUsageReading.readings(in: export)
        precondition(usage.rejected <= export.dataPoints, "more usage points rejected than the export holds")
    }
    return 0
}
