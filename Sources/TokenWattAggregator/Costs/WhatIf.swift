import Foundation
import TokenWattConfiguration
import TokenWattCore
import TokenWattStore

/// A what-if over a past period: the ledger re-run hour by hour on the stored samples with
/// changed assumptions (any pricing key of the config, `Pricing.changed`) and shares of models'
/// tokens moved to the cloud or back (`HourCosts.shift`), beside today's ledger of the same
/// samples, so the difference is the change's alone.
struct WhatIf: Sendable {
    /// `share` of `model`'s tokens: to the cloud model that shadows it when positive, back from
    /// the cloud to the local model it shadows when negative.
    struct Shift: Sendable {
        var model: LabelMatcher
        var share: Double
        var text: String
    }

    /// The provider label of tokens a what-if moved to the cloud.
    static let provider = "whatif"

    var pricing: Pricing
    var settings: [(path: String, value: String)]
    var shifts: [Shift]

    /// `set=electricity.price_per_kwh=0.22` (repeatable) and `shift=MODEL=30%` (repeatable).
    init(base: Pricing, settings texts: [String], shifts shiftTexts: [String]) throws(QueryError) {
        settings = try texts.map { text throws(QueryError) in
            let parts = text.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw QueryError("invalid set \"\(text)\": expected KEY=VALUE such as electricity.price_per_kwh=0.22") }
            return (String(parts[0]), String(parts[1]))
        }
        do {
            pricing = try base.changed(settings)
        } catch {
            throw QueryError("invalid set: \(error)")
        }
        shifts = try shiftTexts.map(WhatIf.shift)
    }

    /// `MODEL=30%`: MODEL a regular expression over the model (anchored), the share -100 to 100 %.
    static func shift(_ text: String) throws(QueryError) -> Shift {
        guard let equals = text.lastIndex(of: "="), text.hasSuffix("%"),
              let percent = Double(text[text.index(after: equals)..<text.index(before: text.endIndex)]),
              percent.isFinite, percent != 0, abs(percent) <= 100 else {
            throw QueryError("invalid shift \"\(text)\": expected MODEL=PERCENT% with a share from -100% to 100%, not 0, such as meta-llama/.*=30%")
        }
        do {
            return Shift(model: try LabelMatcher("model", .matchesRegex, String(text[..<equals])), share: percent / 100, text: text)
        } catch {
            throw QueryError("invalid shift \"\(text)\": \(error)")
        }
    }

    typealias Ledger = (nodes: [LedgerNodeHour], usage: [LedgerUsageHour])

    /// Today's ledger and the changed one of the hours that start in `[from, to)`, and the
    /// tokens a shift back found no local model for.
    func run(measuring hours: any HourMeasuring, base: Pricing, from: Int64, to: Int64, now: Int64) async throws
        -> (today: Ledger, changed: Ledger, stayedOnCloud: Double) {
        let measuring = hours
        var hours: [HourCosts] = []
        var hour = TimeBucket.firstStart(from: from, width: Milliseconds.hour)
        while hour < to, hour <= now {
            hours.append(try await measuring.measured(hour: hour))
            hour += Milliseconds.hour
        }
        // A node's idle power: its lowest hourly mean power in the period.
        var joules: [[String: Double]] = []
        var idleWatts: [String: Double] = [:]
        for inputs in hours {
            var byNode: [String: Double] = [:]
            for (node, energy) in inputs.nodes {
                let power = base.nodeClass(for: measuring.nodeLabels(node))?.power ?? Pricing.PowerModel()
                byNode[node] = energy.joules(estimating: power).joules
                let watts = byNode[node]! / (3600 * inputs.fraction)
                idleWatts[node] = min(idleWatts[node] ?? watts, watts)
            }
            joules.append(byNode)
        }
        var today: Ledger = ([], []), changed: Ledger = ([], [])
        var stayed = 0.0
        for (index, inputs) in hours.enumerated() {
            let base = inputs.ledger(pricing: base, labels: measuring.nodeLabels)
            var shifted = inputs
            for shift in shifts { stayed += shifted.shift(shift, pricing: pricing, joules: joules[index], idleWatts: idleWatts) }
            let ledger = shifted.ledger(pricing: pricing, labels: measuring.nodeLabels)
            today.nodes += base.nodes
            today.usage += base.usage
            changed.nodes += ledger.nodes
            changed.usage += ledger.usage
        }
        return (today, changed, stayed)
    }
}

extension HourCosts {
    /// Moves a share of a model's tokens, before the ledger is made of them. To the cloud: the
    /// share of every local stream of the model becomes usage of the cloud model that shadows
    /// it (provider `whatif`), and its node draws less by the tokens' energy above idle power
    /// (its joules above `idleWatts`, per local token of the hour); capex and overhead stay.
    /// Back: the share of the cloud model's usage goes to the local stream with the most tokens
    /// of a model it shadows, whose node draws that much more; with no such stream in the hour
    /// the tokens stay on the cloud, and are returned.
    mutating func shift(_ shift: WhatIf.Shift, pricing: Pricing, joules: [String: Double], idleWatts: [String: Double]) -> Double {
        func total(_ counts: [String: Double]) -> Double { (counts["input"] ?? 0) + (counts["output"] ?? 0) }
        func cloudModel(of model: String) -> String? { pricing.shadowPrices.first { $0.local.matches(model) }?.cloud }
        var localTokens: [String: Double] = [:]
        for (stream, counts) in tokens where !stream.kind.isCloudSpend { localTokens[stream.node, default: 0] += total(counts) }
        var aboveIdlePerToken: [String: Double] = [:]
        for (node, count) in localTokens where count > 0 {
            let idle = (idleWatts[node] ?? 0) * 3600 * fraction
            aboveIdlePerToken[node] = max(0, (joules[node] ?? 0) + (joulesChange[node] ?? 0) - idle) / count
        }
        func move(_ share: Double, from source: Stream, to target: Stream) {
            let counts = tokens[source] ?? [:]
            tokens[source] = counts.mapValues { $0 * (1 - share) }
            tokens[target] = (tokens[target] ?? [:]).merging(counts.mapValues { $0 * share }, uniquingKeysWith: +)
            if let count = requests[source] {
                requests[source] = count * (1 - share)
                requests[target, default: 0] += count * share
            }
        }
        var stayed = 0.0
        if shift.share > 0 {
            for stream in tokens.keys where !stream.kind.isCloudSpend && shift.model.matches(stream.model) {
                joulesChange[stream.node, default: 0] -= (aboveIdlePerToken[stream.node] ?? 0) * total(tokens[stream]!) * shift.share
                move(shift.share, from: stream, to: Stream(node: stream.node, source: TokenSource.usageAPI, provider: WhatIf.provider,
                                                           model: cloudModel(of: stream.model) ?? stream.model, labels: stream.labels))
            }
        } else {
            let share = -shift.share
            for stream in tokens.keys where stream.kind.isCloudSpend && shift.model.matches(stream.model) {
                let candidates = tokens.keys.filter { !$0.kind.isCloudSpend && cloudModel(of: $0.model) == stream.model && localTokens[$0.node, default: 0] > 0 }
                guard let target = candidates.max(by: { (total(tokens[$0]!), $0.node) < (total(tokens[$1]!), $1.node) }) else {
                    stayed += total(tokens[stream]!) * share
                    continue
                }
                joulesChange[target.node, default: 0] += (aboveIdlePerToken[target.node] ?? 0) * total(tokens[stream]!) * share
                move(share, from: stream, to: target)
            }
        }
        return stayed
    }
}
