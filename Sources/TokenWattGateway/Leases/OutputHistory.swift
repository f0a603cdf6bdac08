import Synchronization
import TokenWattConfiguration

/// The output each caller's recent requests to each model used, for a `typical` route's
/// reservation: the configured percentile of the last `samples`, within the floor and the
/// ceiling; the ceiling while a caller and model have no history yet. At most `maxKeys`
/// caller-model pairs are remembered (more reserve the ceiling): models are the callers' to
/// name.
final class OutputHistory: Sendable {
    static let maxKeys = 10_000

    private struct Key: Hashable {
        var caller: String
        var model: String
    }

    /// The last outputs, oldest overwritten first.
    private struct Ring {
        var values: [Int] = []
        var next = 0
    }

    let settings: GatewayConfiguration.TypicalOutput
    private let rings = Mutex<[Key: Ring]>([:])

    init(settings: GatewayConfiguration.TypicalOutput) {
        self.settings = settings
    }

    /// The output tokens a request of `caller` to `model` that names no limit reserves.
    func reservation(caller: String, model: String) -> Int {
        guard let values = rings.withLock({ $0[Key(caller: caller, model: model)]?.values }), !values.isEmpty else { return settings.ceiling }
        let sorted = values.sorted()
        let rank = Int((settings.percentile * Double(sorted.count)).rounded(.up)) - 1
        return min(settings.ceiling, max(settings.floor, sorted[max(0, min(sorted.count - 1, rank))]))
    }

    /// A request of `caller` to `model` ended having used `output` tokens.
    func record(caller: String, model: String, output: Int) {
        let key = Key(caller: caller, model: model)
        rings.withLock { rings in
            guard rings[key] != nil || rings.count < OutputHistory.maxKeys else { return }
            var ring = rings[key] ?? Ring()
            if ring.values.count < settings.samples {
                ring.values.append(output)
            } else {
                ring.values[ring.next] = output
            }
            ring.next = (ring.next + 1) % settings.samples
            rings[key] = ring
        }
    }
}
