import Foundation

/// A JSON document as it was written, so that a number, a string and `true` stay apart.
/// Read through JSONSerialization: a Decodable enum tried each type in turn, and each miss
/// built a DecodingError (it was most of the gateway's own CPU per request).
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Appends `string` as a JSON string literal: quotes, backslashes and control characters
    /// escaped, everything else as it is (JSON text is UTF-8).
    public static func appendQuoted(_ string: String, to out: inout String) {
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

    /// The document in `bytes`, any JSON value at its top; throws when it is no JSON.
    public static func parse(_ bytes: some Sequence<UInt8>) throws -> JSONValue {
        JSONValue(try JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed))
    }

    /// A value as JSONSerialization gives it.
    public init(_ object: Any) {
        switch object {
        case let string as String: self = .string(string)
        case let number as NSNumber: self = JSONNumber.value(number).map(JSONValue.number) ?? .bool(number.boolValue)
        case let array as [Any]: self = .array(array.map(JSONValue.init))
        case let object as [String: Any]: self = .object(object.mapValues(JSONValue.init))
        default: self = .null
        }
    }
}
