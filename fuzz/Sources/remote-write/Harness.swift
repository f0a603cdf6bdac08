import FuzzDriver
import TokenWattCore

/// A remote-write body (snappy, then protobuf, then the 1.0 rules): refused with a reason or
/// decoded; what decodes encodes and decodes again to the same series.
@_cdecl("fuzz_remote_write_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let body = bytes(data, count)
    guard let series = try? RemoteWriteCodec.decode(body, maxUncompressedBytes: 1 << 20) else { return 0 }
    let again = try! RemoteWriteCodec.decode(RemoteWriteCodec.encode(series))
    precondition(again.map(\.labels) == series.map(\.labels), "labels changed in a round trip")
    precondition(again.map(\.samples.count) == series.map(\.samples.count), "samples changed in a round trip")
    return 0
}
