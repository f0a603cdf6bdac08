import TokenWattCore

/// The ledger's counters as `/metrics` publishes them. A published counter never falls: when
/// late data lowers a total (energy that moves to a cheaper hour, an idle hour that turns out
/// to have served tokens), the published value holds until the ledger's total climbs past it,
/// so the correction is carried into the next increases and Prometheus never reads a reset.
/// The values are saved with the ledger hour that raised them, so a restart keeps them too.
struct PublishedCounters: Sendable {
    /// Published value by series (`ExpositionSample.seriesText`).
    private(set) var values: [String: Double]

    init(_ values: [String: Double]) {
        self.values = values
    }

    /// Raises the published values to the ledger's where those are higher; returns the raised ones.
    mutating func raise(to ledger: [ExpositionSample]) -> [String: Double] {
        var raised: [String: Double] = [:]
        for sample in ledger {
            let key = sample.seriesText
            if sample.value > values[key] ?? -.infinity {
                values[key] = sample.value
                raised[key] = sample.value
            }
        }
        return raised
    }

    /// The ledger's samples with their published values.
    func published(_ ledger: [ExpositionSample]) -> [ExpositionSample] {
        ledger.map { sample in
            var sample = sample
            sample.value = max(sample.value, values[sample.seriesText] ?? -.infinity)
            return sample
        }
    }
}
