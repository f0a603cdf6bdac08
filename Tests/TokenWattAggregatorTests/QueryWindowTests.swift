import Testing
import TokenWattCore
@testable import TokenWattAggregator

/// The one rule for the `from=`/`to=` window of the costs, what-if and tokens APIs.
struct QueryWindowTests {
    static let now: Int64 = 1_800_000_000_000

    @Test(arguments: [
        ("", Optional((now - Milliseconds.day, now)), ""),
        ("to=1799996400", (1_799_996_400_000 - Milliseconds.day, 1_799_996_400_000), ""),
        ("from=1799996400", (1_799_996_400_000, now), ""),
        ("from=2027-01-15T00:00:00Z&to=2027-01-16T00:00:00%2B01:00", (1_799_971_200_000, 1_800_054_000_000), ""),
        ("from=1800000000&to=1800000000", nil, "from must be before to"),
        ("from=1800003600", nil, "from must be before to"),
        ("to=yesterday", nil, "invalid parameter to"),
    ] as [(String, (Int64, Int64)?, String)])
    func windowsDefaultToASpanBeforeNow(_ query: String, _ expected: (Int64, Int64)?, _ refusal: String) {
        do {
            let window = try QueryParameters.window(QueryString(query), now: QueryWindowTests.now, span: Milliseconds.day)
            #expect(window.from == expected?.0 && window.to == expected?.1, "\(query)")
        } catch {
            #expect(expected == nil && !refusal.isEmpty && error.message.contains(refusal), "\(query): \(error.message)")
        }
    }
}
