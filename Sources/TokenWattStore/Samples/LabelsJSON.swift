import Foundation
import TokenWattCore

/// The canonical text of a label set in the `series` table: a JSON object with keys in sorted
/// order, so equal label sets always have equal text.
enum LabelsJSON {
    static func encode(_ labels: LabelSet) -> String {
        var out = "{"
        for (index, label) in labels.labels.enumerated() {
            if index > 0 { out += "," }
            JSONValue.appendQuoted(label.name, to: &out)
            out += ":"
            JSONValue.appendQuoted(label.value, to: &out)
        }
        return out + "}"
    }

    /// Reads what `encode` wrote directly (a million series load on every start); other JSON
    /// (an older writer, a hand edit) goes through JSONSerialization.
    static func decode(_ text: String) throws -> LabelSet {
        if let labels = decodeCanonical(Array(text.utf8)) { return LabelSet(trusted: labels) }
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] else {
            throw StoreError.database("series labels are not a JSON object of strings: \(text)")
        }
        return LabelSet(trusted: object.map { Label($0.key, $0.value) }.sorted { $0.name < $1.name })
    }

    /// The labels of `{"name":"value",...}` in `encode`'s form, names in order; nil for anything else.
    private static func decodeCanonical(_ bytes: [UInt8]) -> [Label]? {
        var position = 0
        func string() -> String? {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { return nil }
            position += 1
            let start = position
            while position < bytes.count, bytes[position] != UInt8(ascii: "\"") {
                // An escape: leave the whole string to JSONSerialization.
                guard bytes[position] != UInt8(ascii: "\\") else { return nil }
                position += 1
            }
            guard position < bytes.count else { return nil }
            defer { position += 1 }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }
        guard bytes.first == UInt8(ascii: "{") else { return nil }
        position = 1
        var labels: [Label] = []
        while position < bytes.count, bytes[position] != UInt8(ascii: "}") {
            if !labels.isEmpty {
                guard bytes[position] == UInt8(ascii: ",") else { return nil }
                position += 1
            }
            guard let name = string(), position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
            position += 1
            guard let value = string() else { return nil }
            if let last = labels.last, last.name >= name { return nil }
            labels.append(Label(name, value))
        }
        return position == bytes.count - 1 ? labels : nil
    }

}
