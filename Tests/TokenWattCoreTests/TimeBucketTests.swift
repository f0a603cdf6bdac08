import Foundation
import Testing
import TokenWattCore

/// The one rule for buckets of time (`TimeBucket`), as the rollups, the ledger, the token API
/// and budgets apply it.
@Suite struct TimeBucketTests {
    static let hour = Milliseconds.hour

    @Test(arguments: [
        // (sample time, the hour it belongs to): a sample on a boundary closes the hour before.
        (Int64(0), -hour),
        (1, 0),
        (hour - 1, 0),
        (hour, 0),
        (hour + 1, hour),
        (21 * hour, 20 * hour),
        (-1, -hour),
        (-hour, -2 * hour),
    ] as [(Int64, Int64)])
    func aSampleBelongsToTheHourItCloses(sample: Int64, hour: Int64) {
        #expect(TimeBucket.start(ofSampleAt: sample, width: TimeBucketTests.hour) == hour)
        #expect(TimeBucket.sampleTimes(ofBucket: hour, width: TimeBucketTests.hour).contains(sample))
    }

    @Test(arguments: [
        // (from, to, hour start, in the window): hours that start in [from, to).
        (Int64(0), 24 * hour, Int64(0), true),
        (0, 24 * hour, 23 * hour, true),
        (0, 24 * hour, 24 * hour, false),
        (hour / 2, 24 * hour + hour / 2, 0, false),          // straddles from: the window before has it
        (hour / 2, 24 * hour + hour / 2, 24 * hour, true),   // the hour in progress at `to`
        (hour / 2, 24 * hour + hour / 2, hour, true),
    ] as [(Int64, Int64, Int64, Bool)])
    func aWindowHoldsTheHoursThatStartInIt(from: Int64, to: Int64, hour: Int64, inside: Bool) {
        #expect(TimeBucket.isInWindow(hour, from: from, to: to) == inside)
    }

    @Test func consecutiveWindowsShareNoHour() {
        let edges: [Int64] = [0, 1_800_000, 5 * Milliseconds.hour + 1, 9 * Milliseconds.hour]
        var counted: [Int64: Int] = [:]
        for (from, to) in zip(edges, edges.dropFirst()) {
            for hour in stride(from: -TimeBucketTests.hour, through: 10 * TimeBucketTests.hour, by: Int(TimeBucketTests.hour))
            where TimeBucket.isInWindow(hour, from: from, to: to) {
                counted[hour, default: 0] += 1
            }
        }
        #expect(counted.values.allSatisfy { $0 == 1 })
        #expect(counted.keys.sorted() == (0..<9).map { Int64($0) * TimeBucketTests.hour })
        #expect(TimeBucket.firstStart(from: 1_800_000, width: TimeBucketTests.hour) == TimeBucketTests.hour)
        #expect(TimeBucket.firstStart(from: TimeBucketTests.hour, width: TimeBucketTests.hour) == TimeBucketTests.hour)
        #expect(TimeBucket.current(at: TimeBucketTests.hour + 5, width: TimeBucketTests.hour) == TimeBucketTests.hour)
    }
}

/// The web overview's per-row times, by arithmetic, against Foundation's calendar (Gregorian from 1582,
/// Julian before it: the instants start in 1600).
@Suite struct UTCTimeTests {
    @Test(arguments: [0, -1, 951_782_400_000, 1_795_824_000_000 - 1, 1_795_824_000_000, 4_102_444_799_999, -11_676_096_000_000, 253_402_300_799_000] as [Int64])
    func agreesWithFoundation(milliseconds: Int64) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second],
                                            from: Date(timeIntervalSince1970: (Double(milliseconds) / 1000).rounded(.down)))
        let time = UTCTime(milliseconds: milliseconds)
        #expect([time.year, time.month, time.day, time.hour, time.minute, time.second].map(Int.init)
                == [parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second].map { $0 ?? -1 })
    }

    @Test func everyDayOfFourCenturiesAgrees() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        // 1900-03-01 to 2300: every 7 hours and 13 minutes, which walks through every hour of the day.
        var milliseconds: Int64 = -2_203_891_200_000
        while milliseconds < 10_413_792_000_000 {
            let parts = calendar.dateComponents([.year, .month, .day, .hour], from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            let time = UTCTime(milliseconds: milliseconds)
            if [time.year, time.month, time.day, time.hour].map(Int.init) != [parts.year, parts.month, parts.day, parts.hour].map({ $0 ?? -1 }) {
                Issue.record("\(milliseconds): \(time) against \(parts)")
                return
            }
            milliseconds += 7 * Milliseconds.hour + 13 * 60_000
        }
    }
}
