import FuzzDriver
import TokenWattCore

/// A series selector as `match[]` takes it, matched against a few label sets when it parses:
/// regular expressions compile within their bounds and match in linear time.
@_cdecl("fuzz_selector_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: bytes(data, count), as: UTF8.self)
    guard let selector = try? SeriesSelector(parsing: text) else { return 0 }
    for labels in samples { _ = selector.matches(labels) }
    return 0
}

let samples: [LabelSet] = [
    try! LabelSet(dictionary: ["__name__": "tokenwatt_tokens_total", "model": "meta-llama/Llama-3.1-8B-Instruct", "node": "gpu-01", "type": "input"]),
    try! LabelSet(dictionary: ["__name__": "up", "job": String(repeating: "a", count: 300) + "\n" + String(repeating: "b", count: 300)]),
    try! LabelSet(dictionary: ["__name__": "unicode", "team": "Ünïcødé 🙂"]),
]
