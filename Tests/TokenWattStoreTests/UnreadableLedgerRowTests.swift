import Foundation
import GRDB
import Testing
import TokenWattCore
@testable import TokenWattStore

/// A ledger row whose labels do not read back is an error that names the row, never a row
/// under no team; and the row stays as it was.
@Suite struct UnreadableLedgerRowTests {
    @Test func aUsageRowWithUnreadableLabelsFailsTheReadAndStays() async throws {
        try await withTemporaryStores { stores, _ in
            let hour: Int64 = 1_796_000_400_000  // an hour start
            var usage = LedgerUsageHour(hour: hour, node: "gpu-01", source: "vllm", provider: "local", model: "llama", labels: ["team": "research"])
            usage.output = 10
            try await stores.ledger.replaceHour(hour, nodes: [], usage: [usage])
            #expect(try await stores.ledger.hours(from: hour, to: hour + Milliseconds.hour).usage.first?.labels == ["team": "research"])

            let broken = #"{"team":"#
            try await stores.database.write("break the labels") { db in
                try db.execute(sql: "UPDATE ledger_usage SET labels = ?", arguments: [broken])
            }
            await #expect {
                _ = try await stores.ledger.hours(from: hour, to: hour + Milliseconds.hour)
            } throws: { error in
                "\(error)".contains("node gpu-01, model llama has unreadable labels")
            }
            let kept = try await stores.database.read("the row") { db in try String.fetchAll(db, sql: "SELECT labels FROM ledger_usage") }
            #expect(kept == [broken])
        }
    }
}
