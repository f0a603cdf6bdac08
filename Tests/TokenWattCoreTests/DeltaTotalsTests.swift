import Testing
import TokenWattCore

@Suite struct DeltaTotalsTests {
    static func samples(_ pairs: [(Int64, Double)]) -> [Sample] { pairs.map { Sample(timestamp: $0.0, value: $0.1) } }

    @Test(arguments: [
        // deltas, the newest stored sample, the cumulative samples, the late ones
        ([(10, 5.0), (20, 3.0)], nil as (Int64, Double)?, [(10, 5.0), (20, 8.0)], 0),
        ([(20, 3.0), (10, 5.0)], nil, [(10, 5.0), (20, 8.0)], 0),
        ([(30, 1.0)], (20, 8.0), [(30, 9.0)], 0),
        // A retried push: its deltas are at or before what is stored, and counted once.
        ([(10, 5.0), (20, 3.0)], (20, 8.0), [], 2),
        ([(20, 3.0), (25, 2.0)], (20, 8.0), [(25, 10.0)], 1),
        // Two deltas at one timestamp: the second cannot be told from a retry.
        ([(40, 1.0), (40, 1.0)], nil, [(40, 1.0)], 1),
        // An up-down counter's deltas go down as well.
        ([(10, -4.0)], (5, 1.0), [(10, -3.0)], 0),
        // A stored NaN (never written for deltas, but possible by hand) restarts from zero.
        ([(10, 2.0)], (5, Double.nan), [(10, 2.0)], 0),
        // A delta that would take the counter to infinity is left out, counted; the next one adds.
        ([(10, 1e308), (20, 1e308), (30, 1.0)], nil, [(10, 1e308), (30, 1e308 + 1)], 0),
    ] as [([(Int64, Double)], (Int64, Double)?, [(Int64, Double)], Int)])
    func accumulates(deltas: [(Int64, Double)], latest: (Int64, Double)?, expected: [(Int64, Double)], late: Int) {
        let result = DeltaTotals.accumulate(Self.samples(deltas), onto: latest.map { Sample(timestamp: $0.0, value: $0.1) })
        #expect(result.samples == Self.samples(expected))
        #expect(result.late == late)
        #expect(result.overflowing == (deltas.count - expected.count - late))
    }
}
