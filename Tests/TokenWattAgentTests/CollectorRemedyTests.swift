import Foundation
import Testing
import TokenWattConfiguration
@testable import TokenWattAgent
@testable import TokenWattSender

/// The fixes `--once` and the log name are the docs': every entry of the table appears in the
/// troubleshooting of docs/operations.md word for word, and every collector the agent knows has one.
@Suite struct CollectorRemedyTests {
    @Test func everyFixIsInTheDocsTroubleshooting() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let page = try String(contentsOf: root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let troubleshooting = page.range(of: "## Troubleshooting").map { String(page[$0.lowerBound...].prefix(12_000)) } ?? ""
        for entry in CollectorRemedy.table {
            #expect(troubleshooting.contains("`\(entry.collector)`, no data: \(entry.noData)\n"), "\(entry.collector), no data")
            #expect(troubleshooting.contains("`\(entry.collector)`, failed: \(entry.failed)\n"), "\(entry.collector), failed")
        }
        #expect(troubleshooting.contains("(`inference:ADDRESS`): \(CollectorRemedy.inferenceServer)\n"))
        #expect(Set(CollectorRemedy.table.map(\.collector)) == Set(CollectorName.allCases.map(\.rawValue)))
    }

    @Test(arguments: [
        ("nvidia", CollectorError.noData("x"), "install the driver"),
        ("nvidia", CollectorError.failed("x"), "NVML's error"),
        ("rapl", CollectorError.failed("permission denied"), "CAP_DAC_READ_SEARCH"),
        ("inference:127.0.0.1:8000", CollectorError.failed("x"), "serving /metrics"),
        ("something-new", CollectorError.failed("x"), "see the reason"),
    ])
    func eachFailureGetsItsFix(_ collector: String, _ error: CollectorError, _ expected: String) {
        #expect(CollectorRemedy.fix(collector: collector, error: error).contains(expected))
    }
}
