import TokenWattCore

/// The ledger's counters as `/metrics` publishes them. A published counter never falls: when
/// late data lowers a total (energy that moves to a cheaper hour, an idle hour that turns out
/// to have served tokens), the published value holds until the ledger's total climbs past it,
/// so the correction is carried into the next increases and Prometheus never reads a reset.
/// The values held above the ledger's are saved before they are shown, so a restart keeps them.
struct PublishedCounters: Sendable {
    /// Published value by series (`ExpositionSample.seriesText`).
    private(set) var values: [String: Double]

    init(_ values: [String: Double]) {
        self.values = values
    }

    /// Raises the published values to the ledger's where those are higher.
    mutating func raise(to ledger: [ExpositionSample]) {
        for sample in ledger where sample.value > values[sample.seriesText] ?? -.infinity {
            values[sample.seriesText] = sample.value
        }
    }

    /// The published values above the ledger's: the corrections being carried, which a restart
    /// could not work out from the ledger, so they are what must be saved.
    func carried(over ledger: [ExpositionSample]) -> [String: Double] {
        var carried: [String: Double] = [:]
        for sample in ledger {
            if let value = values[sample.seriesText], value > sample.value { carried[sample.seriesText] = value }
        }
        return carried
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
