import SwiftProtobuf

/// OTLP/HTTP metrics bodies: what a sender's headers say they are, how they decode within the
/// limits, and the answers the specification gives back in the request's own encoding.
public enum OTLPCodec {
    /// The path both daemons take OTLP metrics on, as every OTLP/HTTP exporter sends them.
    public static let metricsPath = "/v1/metrics"

    public enum Encoding: Sendable, Equatable {
        case protobuf, json

        public var contentType: String {
            switch self {
            case .protobuf: "application/x-protobuf"
            case .json: "application/json"
            }
        }

        /// The encoding a `Content-Type` names; nil for any other.
        public init?(contentType: String?) {
            switch MediaType.essence(of: contentType) {
            case "application/x-protobuf": self = .protobuf
            case "application/json": self = .json
            default: return nil
            }
        }
    }

    /// Nesting a JSON body may have: an export nests about ten deep, attribute values a few more.
    static let maxJSONDepth = 40

    /// Decodes a body: inflated first when `contentEncoding` is gzip (to at most
    /// `maxDecodedBytes`), then read by its encoding within `limits`. JSON goes through
    /// swift-protobuf's decoder and back to the wire, so that one decoder reads both.
    public static func decode(_ body: [UInt8], encoding: Encoding, contentEncoding: String?, maxDecodedBytes: Int,
                              limits: OTLPLimits = OTLPLimits()) throws(CoreError) -> OTLPExport {
        let raw: [UInt8]
        switch contentEncoding?.lowercased() {
        case nil, "", "identity":
            guard body.count <= maxDecodedBytes else { throw .tooLarge("body of \(body.count) bytes is over the limit of \(maxDecodedBytes)") }
            raw = body
        case "gzip": raw = try Deflate.decompress(body, limit: maxDecodedBytes)
        case let other?: throw .unsupportedEncoding("content encoding \"\(other)\" is not supported; send gzip or none")
        }
        switch encoding {
        case .protobuf:
            return try OTLPWireDecoder.decode(raw, limits: limits)
        case .json:
            // A JSON body of empty objects makes far more objects per byte than protobuf does:
            // bounded before swift-protobuf makes any.
            try JSONCensus.check(raw, maxValues: limits.maxSamples + limits.maxAttributes, maxDepth: maxJSONDepth)
            var options = JSONDecodingOptions()
            options.ignoreUnknownFields = true
            options.messageDepthLimit = maxJSONDepth
            let wire: [UInt8]
            do {
                wire = try OTLP_ExportMetricsServiceRequest(jsonUTF8Bytes: raw, options: options).serializedBytes()
            } catch {
                throw .json("not an OTLP ExportMetricsServiceRequest: \(error)")
            }
            return try OTLPWireDecoder.decode(wire, limits: limits)
        }
    }

    /// The success answer: empty, or the partial success naming what was rejected.
    public static func response(_ rejections: OTLPRejections, encoding: Encoding) -> [UInt8] {
        var response = OTLP_ExportMetricsServiceResponse()
        if rejections.count > 0 {
            response.partialSuccess.rejectedDataPoints = Int64(rejections.count)
            response.partialSuccess.errorMessage = rejections.message
        }
        return encode(response, encoding)
    }

    /// The error answer to an HTTP status: a `google.rpc.Status` with the reason, its code the
    /// gRPC code that status stands for.
    public static func status(httpStatus: Int, message: String, encoding: Encoding) -> [UInt8] {
        var status = OTLP_Status()
        status.code = rpcCode(httpStatus: httpStatus)
        status.message = message
        return encode(status, encoding)
    }

    /// The gRPC code of an HTTP status, as OTLP/HTTP maps them.
    static func rpcCode(httpStatus: Int) -> Int32 {
        switch httpStatus {
        case 401: 16  // UNAUTHENTICATED
        case 403: 7  // PERMISSION_DENIED
        case 413, 429: 8  // RESOURCE_EXHAUSTED
        case 502, 503, 504: 14  // UNAVAILABLE
        case 500: 13  // INTERNAL
        default: 3  // INVALID_ARGUMENT
        }
    }

    private static func encode(_ message: some SwiftProtobuf.Message, _ encoding: Encoding) -> [UInt8] {
        // Messages of plain fields: neither encoding can fail.
        switch encoding {
        case .protobuf: return try! message.serializedBytes()
        case .json: return try! message.jsonUTF8Bytes()
        }
    }
}

/// Counts the values in a JSON text (objects, arrays and scalars) and how deep it nests, in
/// one pass without building anything; throws past either bound.
enum JSONCensus {
    static func check(_ bytes: [UInt8], maxValues: Int, maxDepth: Int) throws(CoreError) {
        var values = 0, depth = 0
        var inString = false, escaped = false, inScalar = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                inScalar = false
                values += 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                values += 1
                inScalar = false
                guard depth <= maxDepth else { throw .limit("JSON nested over \(maxDepth) deep") }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                inScalar = false
            case UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                inScalar = false
            default:
                if !inScalar { values += 1 }
                inScalar = true
            }
            guard values <= maxValues else { throw .tooLarge("more than \(maxValues) JSON values in one request") }
        }
    }
}
