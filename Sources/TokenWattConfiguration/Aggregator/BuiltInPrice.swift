import Foundation
import TokenWattCore

/// One entry of the built-in cloud price list (`cloud-prices.yml`, compiled in): a price with
/// the provider, the public page it was taken from and the day it was taken.
public struct BuiltInPrice: Sendable {
    /// The list's prices are in US dollars.
    public static let currency = "USD"

    public var provider: String
    public var pattern: String
    public var price: Pricing.CloudPrice
    /// Midnight UTC of the day the price was read from `source`, ms.
    public var taken: Int64
    public var source: String

    /// The list, read once. A broken list is a build defect: the test suite reads every entry.
    public static let all: [BuiltInPrice] = {
        do {
            return try parse(String(decoding: PackageResources.cloud_prices_yml, as: UTF8.self))
        } catch {
            fatalError("the built-in cloud-prices.yml is invalid: \(error)")
        }
    }()

    static func parse(_ yaml: String) throws(CoreError) -> [BuiltInPrice] {
        try ConfigNode(yaml: yaml, file: "cloud-prices.yml").items().map { item throws(CoreError) in
            try item.requireMapping(allowing: ["provider", "match", "input", "cached_input", "output", "taken", "source"])
            guard let provider = try item["provider"].string(), let pattern = try item["match"].string(),
                  let source = try item["source"].string(), source.hasPrefix("https://") else {
                throw item.error("provider, match and an https:// source")
            }
            guard let taken = try Pricing.date(item["taken"]) else { throw item["taken"].error("the date the price was taken") }
            return BuiltInPrice(provider: provider, pattern: pattern, price: try Pricing.cloudPrice(item), taken: taken, source: source)
        }
    }
}
