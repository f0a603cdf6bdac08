import FuzzDriver
@_spi(Fuzzing) import TokenWattSender

/// A `POST /v1/usage` body: reports taken or refused naming the field, never a trap.
@_cdecl("fuzz_usage_report_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    _ = UsageReportParsing.reports(in: bytes(data, count))
    return 0
}
