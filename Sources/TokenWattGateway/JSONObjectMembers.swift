import Foundation

/// The members at the top level of a JSON object, found by walking its bytes once: each
/// member's value as a byte range, nested values stepped over without being decoded. The
/// gateway reads a few members of every request (the model, the output limit) and answer (the
/// usage); decoding whole bodies for them cost more than everything else it did per request.
///
/// Names are compared after their escapes are decoded, and a name given twice is refused:
/// a reader that took the first `max_tokens` where the upstream takes the last would reserve
/// less than the upstream may spend.
struct JSONObjectMembers {
    enum Failure: Error, Equatable, CustomStringConvertible {
        case notAnObject
        case malformed(at: Int)
        case duplicate(String)

        var description: String {
            switch self {
            case .notAnObject: "the body is not a JSON object"
            case .malformed(let offset): "the body is not valid JSON (at byte \(offset))"
            case .duplicate(let name): "the member \(name) is given twice"
            }
        }
    }

    let bytes: [UInt8]
    private(set) var ranges: [String: Range<Int>] = [:]

    init(_ bytes: [UInt8]) throws(Failure) {
        self.bytes = bytes
        ranges = try bytes.withUnsafeBufferPointer { buffer throws(Failure) in
            var walker = Walker(bytes: buffer)
            return try walker.members()
        }
    }

    /// The raw JSON of a member's value.
    subscript(name: String) -> ArraySlice<UInt8>? {
        ranges[name].map { bytes[$0] }
    }

    /// A member's value decoded (JSONSerialization's types); nil when absent, `null` or not JSON.
    func value(_ name: String) -> Any? {
        guard let raw = self[name], let value = try? JSONSerialization.jsonObject(with: Data(raw), options: .fragmentsAllowed),
              !(value is NSNull) else { return nil }
        return value
    }

    /// Whether a member's value is an object.
    func isObject(_ name: String) -> Bool {
        self[name]?.first == UInt8(ascii: "{")
    }

    /// One pass over the bytes. Values inside the object are checked only as far as needed to
    /// find where they end: the upstream judges them.
    private struct Walker {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        private static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")

        private static func isSpace(_ byte: UInt8) -> Bool {
            byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
        }

        mutating func members() throws(Failure) -> [String: Range<Int>] {
            var ranges: [String: Range<Int>] = [:]
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw .notAnObject }
            index += 1
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { return try end(ranges) }
            while true {
                guard index < bytes.count, bytes[index] == Walker.quote else { throw .malformed(at: index) }
                let nameStart = index
                try skipString()
                let name = try decodeName(nameStart..<index)
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw .malformed(at: index) }
                index += 1
                skipSpace()
                let valueStart = index
                try skipValue()
                guard ranges.updateValue(valueStart..<index, forKey: name) == nil else { throw .duplicate(name) }
                skipSpace()
                guard index < bytes.count else { throw .malformed(at: index) }
                switch bytes[index] {
                case UInt8(ascii: ","):
                    index += 1
                    skipSpace()
                case UInt8(ascii: "}"):
                    return try end(ranges)
                default:
                    throw .malformed(at: index)
                }
            }
        }

        /// After the closing brace: nothing but white space.
        private mutating func end(_ ranges: [String: Range<Int>]) throws(Failure) -> [String: Range<Int>] {
            index += 1
            skipSpace()
            guard index == bytes.count else { throw .malformed(at: index) }
            return ranges
        }

        private mutating func skipSpace() {
            while index < bytes.count, Walker.isSpace(bytes[index]) { index += 1 }
        }

        /// From an opening quote to just past its closing one.
        private mutating func skipString() throws(Failure) {
            index += 1
            while index < bytes.count {
                switch bytes[index] {
                case Walker.backslash: index += 2
                case Walker.quote:
                    index += 1
                    return
                default: index += 1
                }
            }
            throw .malformed(at: bytes.count)
        }

        /// A string, an object or array (to its matching close), or a scalar (to its delimiter).
        private mutating func skipValue() throws(Failure) {
            guard index < bytes.count else { throw .malformed(at: index) }
            switch bytes[index] {
            case Walker.quote:
                try skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                repeat {
                    guard index < bytes.count else { throw .malformed(at: index) }
                    switch bytes[index] {
                    case Walker.quote:
                        try skipString()
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                    default: break
                    }
                    index += 1
                } while depth > 0
            default:
                let start = index
                while index < bytes.count, !Walker.isSpace(bytes[index]), bytes[index] != UInt8(ascii: ","), bytes[index] != UInt8(ascii: "}"),
                      bytes[index] != UInt8(ascii: "]") {
                    index += 1
                }
                guard index > start else { throw .malformed(at: index) }
            }
        }

        /// A name as JSON means it: its escapes decoded (`"\u006dodel"` is `model`).
        private func decodeName(_ range: Range<Int>) throws(Failure) -> String {
            let inner = UnsafeBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
            guard inner.contains(Walker.backslash) else { return String(decoding: inner, as: UTF8.self) }
            guard let name = (try? JSONSerialization.jsonObject(with: Data(bytes[range]), options: .fragmentsAllowed)) as? String else {
                throw .malformed(at: range.lowerBound)
            }
            return name
        }
    }
}
