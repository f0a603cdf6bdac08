import Testing
import TokenWattStore

@Suite struct CounterStepTests {
    /// Reading before, reading after, what the counter counted in between.
    static let table: [(Double, Double, Double)] = [
        (10, 15, 5), (10, 10, 0), (15, 3, 3), (15, 0, 0), (0, 1e6, 1e6),
        (5, -1e308, 0), (-1e308, 5, 5), (1e308, -1e308, 0), (-3, -1, 0),
    ]

    @Test(arguments: table) func aDropIsAResetAndNegativeReadingsCountAsZero(before: Double, after: Double, counted: Double) {
        #expect(CounterStep.increase(from: before, to: after) == counted)
    }
}
