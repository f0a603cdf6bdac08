import FuzzDriver
import TokenWattConfiguration
import TokenWattCore

/// A YAML config file for either daemon: loaded or refused naming file and key, never a trap.
@_cdecl("fuzz_config_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let yaml = String(decoding: bytes(data, count), as: UTF8.self)
    _ = try? AgentConfiguration.parse(yaml: yaml, file: "fuzz.yml")
    _ = try? AggregatorConfiguration.parse(yaml: yaml, file: "fuzz.yml")
    return 0
}
