import Foundation
import TokenWattCore

/// The canonical text of a label set in the `series` table: a JSON object with keys in sorted
/// order, so equal label sets always have equal text.
enum LabelsJSON {
    static func encode(_ labels: LabelSet) -> String {
        var out = "{"
        for (index, label) in labels.labels.enumerated() {
            if index > 0 { out += "," }
            appendString(label.name, to: &out)
            out += ":"
            appendString(label.value, to: &out)
        }
        return out + "}"
    }

    static func decode(_ text: String) throws -> LabelSet {
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] else {
            throw StoreError.database("series labels are not a JSON object of strings: \(text)")
        }
        return LabelSet(trusted: object.map { Label($0.key, $0.value) }.sorted { $0.name < $1.name })
    }

    private static func appendString(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
