import Testing
import TokenWattCore
@testable import TokenWattStore

/// What a series costs in the two tables (`SeriesTable`s, a slot per series id): a field that
/// grows an entry past 32 bytes costs 8 more in every slot of each.
@Suite struct SeriesMemoryTests {
    @Test func aSeriesTakesThirtyTwoBytesInEachTable() {
        #expect(MemoryLayout<HeadSeries>.stride == 32)
        // A slot of the head's SeriesTable: the optional costs no byte.
        #expect(MemoryLayout<HeadSeries?>.stride == 32)
        #expect(SeriesIndex.entryStride == 32)
    }

    @Test func noneIsKeptApartFromValues() {
        var series = HeadSeries()
        #expect(series.lastFinite == nil)
        series.lastFinite = 0
        #expect(series.lastFinite == 0)
        series.lastFinite = nil
        #expect(series.lastFinite == nil)
        let index = SeriesIndex()
        index.add(id: 1, labels: try! LabelSet(dictionary: ["__name__": "m"]))
        #expect(index.latest(of: 1) == nil)
        index.noteLatest([(Int64(1), Sample(timestamp: 5, value: 1)), (Int64(1), Sample(timestamp: 3, value: 2))])
        #expect(index.latest(of: 1) == Sample(timestamp: 5, value: 1))
    }
}
