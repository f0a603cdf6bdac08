import ArgumentParser

/// What the simulated series' values do, round after round.
enum SimulatedValues: String, ExpressibleByArgument, CaseIterable {
    /// Every series a slow random walk in steps of 0.5 (up to 2 steps a round either way).
    case walk
    /// A node's series as an agent reads them, each series one of these by its index:
    /// - GPU utilisation, whole percent, that holds for a few rounds and then moves;
    /// - GPU power from NVML's milliwatts, in watts with three decimals, noisy around a level;
    /// - CPU package power as RAPL gives it, joules over seconds: a double with every bit used;
    /// - token counters that grow in bursts (most rounds by nothing, some by hundreds);
    /// - energy counters in joules (millijoule steps) that grow with the power drawn;
    /// - GPU memory used in bytes, moving in whole mebibytes now and then;
    /// - constants (total memory, `_info` series, a configured price).
    case fleet

    /// The next value of series `index`, from `previous` (the series' first value is `index`).
    func next(after previous: Double, index: Int, using generator: inout some RandomNumberGenerator) -> Double {
        switch self {
        case .walk:
            return previous + Double(Int.random(in: -2...2, using: &generator)) * 0.5
        case .fleet:
            switch index % 10 {
            case 0, 1:  // utilisation
                return Int.random(in: 0..<4, using: &generator) == 0 ? Double(Int.random(in: 0...100, using: &generator)) : previous
            case 2, 3:  // GPU power, W from mW
                return Double(250_000 + index * 1_000 + Int.random(in: -5_000...5_000, using: &generator)) / 1_000
            case 4:  // RAPL power: µJ over a measured interval
                return Double(Int.random(in: 600_000_000...900_000_000, using: &generator)) / 1e6 / (10 + Double(Int.random(in: -900...900, using: &generator)) / 1e6)
            case 5, 6:  // tokens
                return previous + (Int.random(in: 0..<3, using: &generator) == 0 ? Double(Int.random(in: 1...2_000, using: &generator)) : 0)
            case 7:  // energy, J from the millijoule counter
                return ((previous * 1_000).rounded() + Double(3_000_000 + Int.random(in: -50_000...50_000, using: &generator))) / 1_000
            case 8:  // memory used, bytes
                return Int.random(in: 0..<10, using: &generator) == 0 ? Double(Int.random(in: 1_000...80_000, using: &generator) << 20) : previous
            default:  // constants
                return previous
            }
        }
    }
}
