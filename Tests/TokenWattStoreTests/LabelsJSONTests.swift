import Testing
import TokenWattCore
@testable import TokenWattStore

@Suite struct LabelsJSONTests {
    /// The series table's label text reads back as written: plain labels through the direct
    /// reader, escaped ones through JSONSerialization.
    @Test(arguments: [
        ["__name__": "up"],
        ["__name__": "gpu_power_watts", "gpu": "0", "node": "gpu-01", "uuid": "GPU-3f2a"],
        ["__name__": "m", "empty": ""],
        ["__name__": "m", "quote": "say \"hi\"", "slash": "a\\b"],
        ["__name__": "m", "lines": "one\ntwo\r\tthree", "control": "\u{1}"],
        ["__name__": "m", "unicode": "énergie ⚡️ 电"],
    ] as [[String: String]])
    func labelTextReadsBackAsWritten(_ dictionary: [String: String]) throws {
        let labels = try LabelSet(dictionary: dictionary)
        #expect(try LabelsJSON.decode(LabelsJSON.encode(labels)) == labels)
    }

    @Test func jsonFromAnotherWriterStillReads() throws {
        // Keys out of order, spaces, an escaped slash: not the canonical form.
        #expect(try LabelsJSON.decode(#"{ "b" : "2", "a":"x\/y" }"#) == (try LabelSet(dictionary: ["a": "x/y", "b": "2"])))
        #expect(throws: (any Error).self) { try LabelsJSON.decode(#"{"a":1}"#) }
    }
}
