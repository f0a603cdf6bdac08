import Foundation
import TokenWattCore

/// Where alerts go (`receivers:` in the config).
public struct Receiver: Sendable {
    public enum Kind: Sendable {
        /// A generic webhook, signed with Standard Webhooks when it has a secret.
        case webhook(url: String, secret: [UInt8]?)
        case slack(url: String)
        case alertmanager(url: String)
    }

    public var name: String
    public var kind: Kind
}

extension Receiver {
    /// The HMAC key of a secret: the base64 after `whsec_` (or the whole secret without it).
    public static func signingKey(fromSecret secret: String) -> [UInt8]? {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let data = Data(base64Encoded: encoded), !data.isEmpty else { return nil }
        return [UInt8](data)
    }

    /// Reads `receivers:`: each a name and exactly one of webhook, slack or alertmanager.
    static func parse(_ root: ConfigNode, environment: [String: String]) throws(CoreError) -> [Receiver] {
        var receivers: [Receiver] = []
        for item in try root["receivers"].items() {
            try item.requireMapping(allowing: ["name", "webhook", "slack", "alertmanager"])
            guard let name = try item["name"].string(), !name.isEmpty else { throw item["name"].error("the receiver's name") }
            guard !receivers.contains(where: { $0.name == name }) else { throw item["name"].error("a name no other receiver has") }
            let kinds = ["webhook", "slack", "alertmanager"].filter { item[$0].isPresent }
            guard kinds.count == 1 else { throw item.error("exactly one of webhook, slack or alertmanager") }
            let settings = item[kinds[0]]
            switch kinds[0] {
            case "webhook":
                try settings.requireMapping(allowing: ["url", "secret_file", "secret_env"])
                let secret = try settings.secret(named: "secret", environment: environment)
                receivers.append(Receiver(name: name, kind: .webhook(url: try url(settings["url"]), secret: try secret.map { text throws(CoreError) in
                    guard let key = Receiver.signingKey(fromSecret: text) else {
                        throw settings.error("a secret such as whsec_<base64> (Standard Webhooks)")
                    }
                    return key
                })))
            case "slack":
                try settings.requireMapping(allowing: ["url", "url_file", "url_env"])
                let secretURL = try settings.secret(named: "url", environment: environment)
                let plainURL = try settings["url"].string()
                guard let hook = secretURL ?? plainURL, hook.hasPrefix("https://") || hook.hasPrefix("http://") else {
                    throw settings.error("url_file, url_env or url with the incoming webhook's URL")
                }
                receivers.append(Receiver(name: name, kind: .slack(url: hook)))
            default:
                try settings.requireMapping(allowing: ["url"])
                receivers.append(Receiver(name: name, kind: .alertmanager(url: try url(settings["url"]))))
            }
        }
        return receivers
    }

    private static func url(_ node: ConfigNode) throws(CoreError) -> String {
        guard let url = try node.string(), url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw node.error("an http:// or https:// URL")
        }
        return url
    }
}
