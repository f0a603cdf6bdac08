import FuzzDriver
import TokenWattCore

/// Prometheus text 0.0.4 as an inference server's page: parsed or refused with a line number;
/// what parses is written and parsed again to the same samples.
@_cdecl("fuzz_exposition_text_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = bytes(data, count)
    guard let families = try? ExpositionParser(format: .prometheusText, maxSamples: 10_000).parse(bytes: bytes) else { return 0 }
    let written = ExpositionWriter(format: .prometheusText).render(families)
    if let again = try? ExpositionParser(format: .prometheusText).parse(bytes: written) {
        precondition(again.flatMap(\.samples).count == families.flatMap(\.samples).count, "samples changed in a round trip")
    }
    return 0
}
