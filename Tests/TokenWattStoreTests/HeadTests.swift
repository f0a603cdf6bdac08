import Testing
import TokenWattCore
@testable import TokenWattStore

@Suite struct HeadTests {
    static let hour: Int64 = Milliseconds.hour

    /// A flush walks the series a slice at a time: whatever the slice, it takes every window
    /// before the boundary and each dirty span once, leaves the rest, and the head's sizes
    /// come back to what the windows left behind hold.
    @Test(arguments: [1, 3, 7, 10_000])
    func aFlushInSlicesTakesEveryWindowOnce(slice: Int) {
        let head = Head(flushSlice: slice)
        // 20 series, each with a sample in three 2-hour windows: 0 h, 2 h and 4 h.
        head.append((1...20).map { id in
            WALRecord.Entry(id: Int64(id), samples: [0, 2, 4].map { Sample(timestamp: $0 * HeadTests.hour + Int64(id), value: Double(id)) })
        })
        #expect(head.sampleCount == 60 && head.seriesCount == 20)
        let (windows, spans) = head.windowsToFlush(before: 4 * HeadTests.hour)
        #expect(windows.count == 40)
        #expect(Set(windows.map { "\($0.seriesID)@\($0.start)" }).count == 40)
        #expect(windows.allSatisfy { $0.start < 4 * HeadTests.hour && $0.count == 1 })
        #expect(Set(spans.map(\.seriesID)) == Set((1...20).map(Int64.init)))
        head.remove(flushed: windows)
        #expect(head.sampleCount == 20 && head.seriesCount == 20)
        #expect(!head.hasWindows(before: 4 * HeadTests.hour))
        #expect(head.hasWindows(before: 6 * HeadTests.hour))
        #expect(head.samples(seriesID: 7, from: 0, to: .max) == [Sample(timestamp: 4 * HeadTests.hour + 7, value: 7)])
    }
}
