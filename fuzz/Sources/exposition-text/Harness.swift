import FuzzDriver
import TokenWattCore

/// Prometheus text 0.0.4 as an inference server's page: parsed or refused with a line number;
/// what the writer makes of it parses again and writes to the same text.
@_cdecl("fuzz_exposition_text_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let families = try? ExpositionParser(format: .prometheusText, maxSamples: 10_000).parse(bytes: bytes(data, count)) else { return 0 }
    let writer = ExpositionWriter(format: .prometheusText)
    let written = writer.render(families)
    let again = try! ExpositionParser(format: .prometheusText).parse(bytes: written)
    precondition(writer.render(again) == written, "the writer's text does not survive a round trip")
    return 0
}
