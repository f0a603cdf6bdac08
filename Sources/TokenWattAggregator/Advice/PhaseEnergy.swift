/// Joules per prompt token computed and per generated token on one node, from a least-squares
/// fit of its power against the two rates over the advice window:
///
///     watts = idle + a × input tokens computed per second + b × output tokens per second
///
/// Input here is the prompt tokens the servers computed: cache hits cost a lookup, not a
/// prefill, so they are left out of the rate. The two coefficients can only be told apart
/// when the rates move apart: on a node whose input and output keep one ratio, or where one
/// phase's rate never changes (a decode pool has no input at all), the fit says so in its
/// `basis` and gives only what it can.
struct PhaseEnergy: Sendable, Equatable {
    enum Basis: String, Sendable {
        /// Both coefficients fitted.
        case inputAndOutput = "input_and_output"
        /// The input rate never changed (a decode pool's is 0): no input coefficient.
        case outputOnly = "output_only"
        /// The output rate never changed (a prefill pool's is 0): no output coefficient.
        case inputOnly = "input_only"
        /// Input and output rose and fell together: their shares of the power cannot be told apart.
        case collinear
        /// The rates explain less than `minimumRSquared` of the power's changes (another load,
        /// a broken sensor): no coefficient is given.
        case poorFit = "poor_fit"
    }

    var basis: Basis
    var idleWatts: Double?
    var joulesPerInputToken: Double?
    var joulesPerOutputToken: Double?
    /// The share of the power's variance the fit explains, 0–1.
    var rSquared: Double?

    /// Below this, the coefficients say more about noise than about the phases.
    static let minimumRSquared = 0.5
    /// Correlation² above which the two rates count as moving together.
    static let collinearAbove = 0.98

    /// The fit over the buckets with a power reading; nil with fewer than three of them, or
    /// when neither rate changed.
    static func fit(watts: [Double?], input: [Double], output: [Double]) -> PhaseEnergy? {
        let points = zip(zip(input, output), watts).compactMap { rates, y in y.map { (x1: rates.0, x2: rates.1, y: $0) } }
        guard points.count >= 3 else { return nil }
        let n = Double(points.count)
        let m1 = points.reduce(0) { $0 + $1.x1 } / n, m2 = points.reduce(0) { $0 + $1.x2 } / n, my = points.reduce(0) { $0 + $1.y } / n
        var s11 = 0.0, s22 = 0.0, s12 = 0.0, s1y = 0.0, s2y = 0.0, syy = 0.0
        for p in points {
            let d1 = p.x1 - m1, d2 = p.x2 - m2, dy = p.y - my
            s11 += d1 * d1; s22 += d2 * d2; s12 += d1 * d2; s1y += d1 * dy; s2y += d2 * dy; syy += dy * dy
        }
        // A rate varies when its spread is more than rounding against its size.
        let inputVaries = s11 > 1e-9 * max(1, m1 * m1) * n, outputVaries = s22 > 1e-9 * max(1, m2 * m2) * n
        var a: Double?, b: Double?
        var basis: Basis
        switch (inputVaries, outputVaries) {
        case (false, false):
            return nil
        case (true, false):
            (a, basis) = (max(0, s1y / s11), .inputOnly)
        case (false, true):
            (b, basis) = (max(0, s2y / s22), .outputOnly)
        case (true, true) where s12 * s12 > collinearAbove * s11 * s22:
            return PhaseEnergy(basis: .collinear)
        case (true, true):
            let det = s11 * s22 - s12 * s12
            var fitted = ((s22 * s1y - s12 * s2y) / det, (s11 * s2y - s12 * s1y) / det)
            // Serving more never draws less: a negative coefficient is noise, so it is 0 and the
            // other is fitted alone.
            if fitted.0 < 0 { fitted = (0, max(0, s2y / s22)) } else if fitted.1 < 0 { fitted = (max(0, s1y / s11), 0) }
            (a, b, basis) = (fitted.0, fitted.1, .inputAndOutput)
        }
        let idle = my - (a ?? 0) * m1 - (b ?? 0) * m2
        let residual = points.reduce(0) { sum, p in
            let error = p.y - idle - (a ?? 0) * p.x1 - (b ?? 0) * p.x2
            return sum + error * error
        }
        let rSquared = syy > 0 ? max(0, 1 - residual / syy) : 1
        guard rSquared >= minimumRSquared else { return PhaseEnergy(basis: .poorFit, rSquared: rSquared) }
        return PhaseEnergy(basis: basis, idleWatts: idle, joulesPerInputToken: a, joulesPerOutputToken: b, rSquared: rSquared)
    }
}
