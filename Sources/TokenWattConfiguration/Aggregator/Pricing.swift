import Foundation
import TokenWattAPI
import TokenWattCore

/// What energy, hardware and cloud tokens cost: the aggregator's `currency`, `electricity`,
/// `node_classes`, `cloud_prices` and `shadow_prices` keys.
public struct Pricing: Sendable {
    /// ISO 4217 code; metric names carry it in lower case (`tokenwatt_cost_usd_total`).
    public var currency = "USD"
    public var electricity = Electricity()
    public var carbon: Carbon?
    /// First match wins; a node no class matches costs its energy only.
    public var nodeClasses: [NodeClass] = []
    /// Per million tokens; first match that applies at the time wins.
    public var cloudPrices: [CloudPrice] = []
    /// The cloud model whose price a local model's tokens are worth; first match wins.
    public var shadowPrices: [ShadowPrice] = []
    /// The built-in list (`cloud-prices.yml`), for models no `cloudPrices` entry matches; in USD,
    /// so only when the currency is USD.
    public var builtInPrices: [BuiltInPrice] = BuiltInPrice.all
    /// The config's pricing keys as YAML, so a what-if can change one and read them again.
    public var document = ""

    /// The config keys pricing is read from.
    static let keys = ["currency", "electricity", "carbon", "node_classes", "cloud_prices", "shadow_prices"]

    public init() {}

    /// These prices with the config values at `path`s replaced (`electricity.price_per_kwh`,
    /// `node_classes[0].life_years`, YAML values), read and checked as the config is.
    public func changed(_ settings: [(path: String, value: String)]) throws(CoreError) -> Pricing {
        var root = try ConfigNode(yaml: document, file: "what-if")
        for (path, value) in settings {
            let first = String(path.prefix { $0 != "." && $0 != "[" })
            guard Pricing.keys.contains(first) else {
                throw .config(file: "what-if", key: path, expected: "a key under \(Pricing.keys.joined(separator: ", "))")
            }
            root = try root.setting(path, to: value)
        }
        var changed = try Pricing.parse(root)
        changed.builtInPrices = builtInPrices
        return changed
    }

    public struct Electricity: Sendable {
        /// The price of a kWh in each part of the day.
        public var price = DailySchedule(base: 0.15)
        /// Power usage effectiveness: facility energy over IT energy (cooling, power conversion).
        public var pue = 1.0

        public init() {}
    }

    /// The grid's carbon intensity: grams of CO2e per kWh drawn, in each part of the day.
    /// Emissions are counted (SCI-style: operational from energy, embodied amortised per node
    /// class) only where the config has `carbon:`.
    public struct Carbon: Sendable {
        public var intensity: DailySchedule
    }

    /// A value for each part of the day: the first part holding the time wins, else `base`.
    /// Electricity prices and grid carbon intensity follow the same kind of table.
    public struct DailySchedule: Sendable {
        public var base: Double
        public var parts: [Part] = []
        public var timezone = TimeZone(identifier: "UTC")!

        /// From `from` to `to` (minutes since midnight in `timezone`; wraps past midnight when
        /// `to` <= `from`).
        public struct Part: Sendable {
            public var from: Int
            public var to: Int
            public var value: Double

            func contains(minuteOfDay minute: Int) -> Bool {
                from < to ? (minute >= from && minute < to) : (minute >= from || minute < to)
            }
        }

        /// The value for the hour starting at `hour` (ms).
        public func value(atHour hour: Int64) -> Double {
            guard !parts.isEmpty else { return base }
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = timezone
            let components = calendar.dateComponents([.hour, .minute], from: Date(timeIntervalSince1970: Double(hour) / 1000))
            let minute = (components.hour ?? 0) * 60 + (components.minute ?? 0)
            return parts.first { $0.contains(minuteOfDay: minute) }?.value ?? base
        }
    }

    /// A node's CPU power where nothing measures it: watts per vCPU when idle and at full
    /// load. The defaults are Cloud Carbon Footprint's averages for AWS's compute (0.74 W and
    /// 3.5 W per vCPU).
    public struct PowerModel: Sendable, Equatable {
        public var idleWattsPerVCPU = 0.74
        public var maxWattsPerVCPU = 3.5

        public init() {}
    }

    /// Hardware bought once and amortised over its life, plus a fixed hourly overhead.
    public struct NodeClass: Sendable {
        /// Label matchers over the node's labels (`node` and the static labels).
        public var match: [LabelMatcher]
        public var purchasePrice = 0.0
        /// Midnight UTC of the purchase day, ms; amortisation runs from here for `lifeYears`.
        public var purchaseDate: Int64 = 0
        public var lifeYears = 4.0
        public var residualValue = 0.0
        public var overheadPerHour = 0.0
        /// Grams of CO2e emitted making it, amortised over its life like its price.
        public var embodiedGCO2e = 0.0
        /// Its CPUs' power, for hours without a measured energy source.
        public var power = PowerModel()

        /// Hours in a year of 365.25 days, as the amortisation formula counts them.
        static let hoursPerYear = 8_766.0

        /// The capex of the hour starting at `hour` (ms): zero before purchase and after the life ends.
        public func capex(atHour hour: Int64) -> Double {
            amortised(purchasePrice - residualValue, atHour: hour)
        }

        /// The embodied emissions of the hour starting at `hour`, in grams, amortised as capex is.
        public func embodied(atHour hour: Int64) -> Double {
            amortised(embodiedGCO2e, atHour: hour)
        }

        private func amortised(_ total: Double, atHour hour: Int64) -> Double {
            let end = purchaseDate + Int64(lifeYears * NodeClass.hoursPerYear * Double(Milliseconds.hour))
            guard hour >= purchaseDate, hour < end, lifeYears > 0 else { return 0 }
            return total / (lifeYears * NodeClass.hoursPerYear)
        }
    }

    /// A cloud API's price per million tokens of the models `model` matches, from `from` on.
    public struct CloudPrice: Sendable {
        public var model: LabelMatcher
        public var input: Double
        public var cachedInput: Double
        public var output: Double
        /// Midnight UTC of the day the price applies from, ms; nil: always.
        public var from: Int64?

        /// What the tokens cost: uncached input, cached input and output each priced once.
        public func cost(input: Double, cachedInput: Double, output: Double) -> Double {
            parts(input: input, cachedInput: cachedInput, output: output).total
        }

        /// The same cost by part (`input` being the prompt tokens not cached).
        public func parts(input: Double, cachedInput: Double, output: Double) -> TokenParts {
            TokenParts(input: max(0, input - cachedInput) * self.input / 1e6, cachedInput: cachedInput * self.cachedInput / 1e6,
                       output: output * self.output / 1e6)
        }
    }

    public struct ShadowPrice: Sendable {
        public var local: LabelMatcher
        public var cloud: String
    }

    /// The node class of a node with these labels.
    public func nodeClass(for labels: [String: String]) -> NodeClass? {
        nodeClasses.first { $0.match.allSatisfy { $0.matches(labels[$0.name]) } }
    }

    /// The cloud price of `model` in the hour starting at `hour`: the config's, else the built-in one.
    public func cloudPrice(of model: String, atHour hour: Int64) -> CloudPrice? {
        cloudPrices.first { price in price.model.matches(model) && (price.from.map { $0 <= hour } ?? true) }
            ?? (currency == BuiltInPrice.currency ? builtInPrices.first { $0.price.model.matches(model) }?.price : nil)
    }

    /// The cloud price a local model's tokens are worth in the hour starting at `hour`.
    public func shadowPrice(of localModel: String, atHour hour: Int64) -> CloudPrice? {
        shadowPrices.first { $0.local.matches(localModel) }.flatMap { cloudPrice(of: $0.cloud, atHour: hour) }
    }
}

extension Pricing {
    /// Reads the pricing keys of the aggregator's config.
    static func parse(_ root: ConfigNode) throws(CoreError) -> Pricing {
        var pricing = Pricing()
        pricing.document = root.keeping(Pricing.keys).yaml
        if let currency = try root["currency"].string() {
            guard currency.count == 3, currency.allSatisfy({ $0.isLetter && $0.isASCII }) else {
                throw root["currency"].error("a three-letter currency code such as USD or EUR, got \"\(currency)\"")
            }
            pricing.currency = currency.uppercased()
        }
        let electricity = root["electricity"]
        try electricity.requireMapping(allowing: ["price_per_kwh", "pue", "tariffs", "timezone"])
        pricing.electricity.price = try schedule(electricity, key: "price_per_kwh", parts: "tariffs", default: pricing.electricity.price.base)
        pricing.electricity.pue = try nonNegative(electricity["pue"], default: pricing.electricity.pue)
        guard pricing.electricity.pue >= 1 else { throw electricity["pue"].error("a PUE of at least 1.0") }
        let carbon = root["carbon"]
        if carbon.isPresent {
            try carbon.requireMapping(allowing: ["intensity_g_per_kwh", "schedule", "timezone"])
            pricing.carbon = Carbon(intensity: try schedule(carbon, key: "intensity_g_per_kwh", parts: "schedule", default: nil))
        }
        for item in try root["node_classes"].items() {
            try item.requireMapping(allowing: ["match", "purchase_price", "purchase_date", "life_years", "residual_value", "overhead_per_hour",
                                               "idle_watts_per_vcpu", "max_watts_per_vcpu", "embodied_kgco2e"])
            var nodeClass = NodeClass(match: try matchers(item["match"]))
            nodeClass.purchasePrice = try nonNegative(item["purchase_price"], default: 0)
            nodeClass.purchaseDate = try date(item["purchase_date"]) ?? 0
            nodeClass.lifeYears = try nonNegative(item["life_years"], default: nodeClass.lifeYears)
            guard nodeClass.lifeYears > 0 else { throw item["life_years"].error("a positive number of years") }
            nodeClass.residualValue = try nonNegative(item["residual_value"], default: 0)
            guard nodeClass.residualValue <= nodeClass.purchasePrice else { throw item["residual_value"].error("at most the purchase price") }
            nodeClass.overheadPerHour = try nonNegative(item["overhead_per_hour"], default: 0)
            nodeClass.embodiedGCO2e = try nonNegative(item["embodied_kgco2e"], default: 0) * 1000
            nodeClass.power.idleWattsPerVCPU = try nonNegative(item["idle_watts_per_vcpu"], default: nodeClass.power.idleWattsPerVCPU)
            nodeClass.power.maxWattsPerVCPU = try nonNegative(item["max_watts_per_vcpu"], default: nodeClass.power.maxWattsPerVCPU)
            guard nodeClass.power.maxWattsPerVCPU >= nodeClass.power.idleWattsPerVCPU else {
                throw item["max_watts_per_vcpu"].error("at least idle_watts_per_vcpu (\(nodeClass.power.idleWattsPerVCPU))")
            }
            pricing.nodeClasses.append(nodeClass)
        }
        for item in try root["cloud_prices"].items() {
            try item.requireMapping(allowing: ["match", "input", "cached_input", "output", "from"])
            pricing.cloudPrices.append(try cloudPrice(item))
        }
        for item in try root["shadow_prices"].items() {
            try item.requireMapping(allowing: ["local", "cloud"])
            guard let cloud = try item["cloud"].string(), !cloud.isEmpty else { throw item["cloud"].error("the cloud model whose price applies") }
            guard pricing.cloudPrice(of: cloud, atHour: .max) != nil else {
                throw item["cloud"].error("a model one of cloud_prices (or, in USD, the built-in list of tokenwatt prices) matches; none matches \"\(cloud)\"")
            }
            pricing.shadowPrices.append(ShadowPrice(local: try regex(item["local"], label: "model"), cloud: cloud))
        }
        return pricing
    }

    /// `{match, input, cached_input, output, from}`: cached input costs what input does unless given.
    static func cloudPrice(_ item: ConfigNode) throws(CoreError) -> CloudPrice {
        let input = try nonNegative(item["input"], default: nil)
        return CloudPrice(model: try regex(item["match"], label: "model"), input: input,
                          cachedInput: try nonNegative(item["cached_input"], default: input),
                          output: try nonNegative(item["output"], default: nil), from: try date(item["from"]))
    }

    /// `key` for the whole day, `parts` (`[{from, to, key}]`) for parts of it, in `timezone`.
    private static func schedule(_ node: ConfigNode, key: String, parts: String, default value: Double?) throws(CoreError) -> DailySchedule {
        var schedule = DailySchedule(base: try nonNegative(node[key], default: value))
        if let zone = try node["timezone"].string() {
            guard let timezone = TimeZone(identifier: zone) else { throw node["timezone"].error("an IANA time zone such as Europe/Berlin") }
            schedule.timezone = timezone
        }
        for item in try node[parts].items() {
            try item.requireMapping(allowing: ["from", "to", key])
            schedule.parts.append(DailySchedule.Part(from: try minuteOfDay(item["from"]), to: try minuteOfDay(item["to"]),
                                                     value: try nonNegative(item[key], default: nil)))
        }
        return schedule
    }

    private static func nonNegative(_ node: ConfigNode, default value: Double?) throws(CoreError) -> Double {
        guard let text = try node.string() else {
            guard let value else { throw node.error("a number") }
            return value
        }
        guard let number = Double(text), number.isFinite, number >= 0 else { throw node.error("a number of at least 0, got \"\(text)\"") }
        return number
    }

    /// `2026-01-15`: midnight UTC of that day, in ms.
    static func date(_ node: ConfigNode) throws(CoreError) -> Int64? {
        guard let text = try node.string() else { return nil }
        let parts = text.split(separator: "-").compactMap { Int($0) }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard parts.count == 3, let date = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])),
              calendar.component(.day, from: date) == parts[2] else {
            throw node.error("a date such as 2026-01-15, got \"\(text)\"")
        }
        return Int64(date.timeIntervalSince1970 * 1000)
    }

    /// `22:00` → minutes since midnight.
    private static func minuteOfDay(_ node: ConfigNode) throws(CoreError) -> Int {
        let text = try node.string() ?? ""
        let parts = text.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 2, (0...24).contains(parts[0]), (0...59).contains(parts[1]), parts[0] * 60 + parts[1] <= 1440 else {
            throw node.error("a time of day such as 22:00, got \"\(text)\"")
        }
        return parts[0] * 60 + parts[1]
    }

    /// A regular expression, anchored as in PromQL, matched against one label.
    private static func regex(_ node: ConfigNode, label: String) throws(CoreError) -> LabelMatcher {
        guard let pattern = try node.string(), !pattern.isEmpty else { throw node.error("a regular expression") }
        do {
            return try LabelMatcher(label, .matchesRegex, pattern)
        } catch {
            throw node.error("a valid regular expression: \(error)")
        }
    }

    /// `{label: regex, ...}`.
    private static func matchers(_ node: ConfigNode) throws(CoreError) -> [LabelMatcher] {
        try node.entries().map { name, value throws(CoreError) in
            guard MetricName.isValidLabelName(name) else { throw value.error("a label name") }
            return try regex(value, label: name)
        }
    }
}
