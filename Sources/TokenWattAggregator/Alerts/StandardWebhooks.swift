import Crypto
import Foundation

/// Standard Webhooks 1.0 signatures: `webhook-id`, `webhook-timestamp` and
/// `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the
/// base64 part of a `whsec_` secret (`Receiver.signingKey(fromSecret:)`).
enum StandardWebhooks {
    /// The three headers for a message.
    static func headers(id: String, timestamp: Int64, body: [UInt8], key: [UInt8]) -> [(String, String)] {
        let content = Array("\(id).\(timestamp).".utf8) + body
        let mac = HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key))
        return [("webhook-id", id), ("webhook-timestamp", "\(timestamp)"), ("webhook-signature", "v1," + Data(mac).base64EncodedString())]
    }
}
