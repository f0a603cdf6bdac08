import Testing
@testable import TokenWattStore

@Suite struct SeriesTableTests {
    @Test func valuesByIdDenseOrFarAreFoundCountedAndRemoved() {
        var table = SeriesTable<[Int]>()
        #expect(table[1] == nil && table[-5] == nil && table.count == 0)
        for id in 1...1_000 as ClosedRange<Int64> { table[id] = [Int(id)] }
        // A row id set by hand, far past the others, and a negative one.
        table[Int64(1) << 40] = [7]
        table[-3] = [3]
        #expect(table.count == 1_002)
        #expect(table[500] == [500] && table[Int64(1) << 40] == [7] && table[-3] == [3] && table[1_001] == nil)
        // Changed in place, made from the default where there was none.
        table[2, default: []].append(9)
        table[2_000, default: [1]].append(2)
        table[Int64(1) << 40, default: []].append(8)
        #expect(table[2] == [2, 9] && table[2_000] == [1, 2] && table[Int64(1) << 40] == [7, 8])
        #expect(table.count == 1_003)
        table[2] = nil
        table[Int64(1) << 40] = nil
        table[2] = nil
        #expect(table.count == 1_001 && table[2] == nil && table[Int64(1) << 40] == nil)
        #expect(table.ids == [-3] + Array(1...1_000).filter { $0 != 2 } + [2_000])
    }

    @Test func anIdKeptBesideStaysFoundOnceTheArrayGrowsPastIt() {
        var table = SeriesTable<Int>()
        let far: Int64 = 1_500_000
        table[far] = 1
        // Enough values that the array's range now covers `far`.
        for id in 1...400_000 as ClosedRange<Int64> { table[id] = 0 }
        table[far + 10] = 2
        #expect(table[far] == 1 && table[far + 10] == 2)
        table[far, default: 0] += 1
        #expect(table[far] == 2 && table.count == 400_002)
        #expect(table.ids.suffix(3) == [400_000, far, far + 10])
    }
}
