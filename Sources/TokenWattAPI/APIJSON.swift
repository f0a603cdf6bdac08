import Foundation

/// How the aggregator's JSON API is written and read: keys sorted, and the numbers JSON has no
/// words for (NaN, ±infinity) as the strings Prometheus writes sample values with. The
/// handlers, the web pages' tests and the CLI share these, so a body means the same on both ends.
public enum APIJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "+Inf", negativeInfinity: "-Inf", nan: "NaN")
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "+Inf", negativeInfinity: "-Inf", nan: "NaN")
        return decoder
    }
}

/// The envelope of every answer, in the shape of Prometheus's HTTP API:
/// `{"status":"success","data":...}`.
public struct APISuccess<Body: Sendable>: Sendable {
    public var status = "success"
    public var data: Body

    public init(_ data: Body) {
        self.data = data
    }
}

extension APISuccess: Encodable where Body: Encodable {}
extension APISuccess: Decodable where Body: Decodable {}

/// `{"status":"error","errorType":"bad_data","error":"..."}`: what a refused request gets.
public struct APIFailure: Codable, Sendable {
    public var status = "error"
    public var errorType: String
    public var error: String

    public init(errorType: String, error: String) {
        self.errorType = errorType
        self.error = error
    }
}

/// The status of an answer, read before its body.
public struct APIStatus: Decodable, Sendable {
    public var status: String
    public var error: String?
}

/// An optional field written as `null` when unknown, never left out: what the API documents
/// for figures it could not measure. A missing key reads as unknown too.
@propertyWrapper
public struct NullWhenUnknown<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    public func decode<Value>(_ type: NullWhenUnknown<Value>.Type, forKey key: Key) throws -> NullWhenUnknown<Value> {
        NullWhenUnknown(wrappedValue: try decodeIfPresent(Value.self, forKey: key))
    }
}
