import FuzzDriver
import TokenWattCore

/// A remote write 2.0 message (after snappy): refused with a reason or decoded within the
/// bounds; what decodes encodes as 2.0 again and decodes to the same series.
@_cdecl("fuzz_remote_write_2_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let request = try? RemoteWrite2Decoder.decode(bytes(data, count)) else { return 0 }
    let series = request.series.map { TimeSeries(labels: $0.labels, samples: $0.samples) }
    let again = try! RemoteWrite2Decoder.decode(RemoteWriteCodec.serializeV2(series))
    precondition(again.series.map(\.labels) == series.map(\.labels), "labels changed in a round trip")
    precondition(again.series.map(\.samples.count) == series.map(\.samples.count), "samples changed in a round trip")
    return 0
}
