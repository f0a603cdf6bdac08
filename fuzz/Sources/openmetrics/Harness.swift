import FuzzDriver
import TokenWattCore

/// OpenMetrics 1.0 text: parsed or refused with a line number, never a trap.
@_cdecl("fuzz_openmetrics_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = bytes(data, count)
    _ = try? ExpositionParser(format: .openMetrics, maxSamples: 10_000).parse(bytes: bytes)
    return 0
}
