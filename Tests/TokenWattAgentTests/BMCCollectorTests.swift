import Foundation
import Synchronization
import Testing
import TokenWattCore
@testable import TokenWattAgent
@testable import TokenWattSender

@Suite struct BMCCollectorTests {
    /// A stand-in for ipmitool: a shell script that prints `output` (to standard error when it
    /// fails) and exits with `status`; or, with `hangs`, one that never answers.
    static func fakeIpmitool(_ tree: FixtureTree, output: String, status: Int = 0, hangs: Bool = false) throws -> String {
        let body = hangs ? "exec sleep 60" : "cat \(status == 0 ? "" : ">&2 ")<<'END'\n\(output)\nEND\nexit \(status)"
        let path = tree.root + "/ipmitool"
        // Written through a close-on-exec descriptor: a process another test starts meanwhile
        // must not inherit it open for writing, or running the script fails with ETXTBSY.
        unlink(path)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        let script = Array("#!/bin/sh\n\(body)\n".utf8)
        guard write(descriptor, script, script.count) == script.count else { throw POSIXError(.EIO) }
        return path
    }

    static let reading = """
        Instantaneous power reading:                   250 Watts
        Minimum during sampling period:                 80 Watts
        Maximum during sampling period:                410 Watts
        """

    @Test func readsDCMIPowerAndIntegratesEnergy() async throws {
        let tree = try FixtureTree()
        defer { tree.remove() }
        let clock = Mutex(100.0)
        let collector = BMCCollector(command: [try BMCCollectorTests.fakeIpmitool(tree, output: BMCCollectorTests.reading), "dcmi", "power", "reading"],
                                     interval: .seconds(30), timeout: .seconds(5), now: { clock.withLock { $0 } })
        var samples = try await collector.collect()
        #expect(value(samples, "tokenwatt_node_power_watts", ["source": "dcmi"]) == 250)
        #expect(value(samples, "tokenwatt_node_energy_joules_total", ["source": "dcmi"]) == 0)
        clock.withLock { $0 += 30 }
        _ = try BMCCollectorTests.fakeIpmitool(tree, output: BMCCollectorTests.reading.replacingOccurrences(of: "250", with: "350"))
        samples = try await collector.collect()
        #expect(value(samples, "tokenwatt_node_energy_joules_total", ["source": "dcmi"]) == 300.0 * 30)
    }

    @Test func saysWhyThereIsNoReading() async throws {
        let tree = try FixtureTree()
        defer { tree.remove() }
        let failing = try BMCCollectorTests.fakeIpmitool(tree, output: "Could not open device at /dev/ipmi0", status: 1)
        await #expect(throws: CollectorError.failed("\(failing) exited with 1: Could not open device at /dev/ipmi0")) {
            try await BMCCollector(command: [failing], interval: .seconds(30), timeout: .seconds(5)).collect()
        }
        let silent = try BMCCollectorTests.fakeIpmitool(tree, output: "DCMI request failed because: Invalid command (c1)")
        await #expect(throws: CollectorError.failed("no \"Instantaneous power reading\" in the output of \(silent): DCMI request failed because: Invalid command (c1)")) {
            try await BMCCollector(command: [silent], interval: .seconds(30), timeout: .seconds(5)).collect()
        }
        await #expect(throws: CollectorError.noData("no-such-ipmitool-here is not installed")) {
            try await BMCCollector(command: ["no-such-ipmitool-here", "dcmi"], interval: .seconds(30), timeout: .seconds(5)).collect()
        }
    }

    @Test func aBMCThatDoesNotAnswerIsKilledAtTheTimeout() async throws {
        let tree = try FixtureTree()
        defer { tree.remove() }
        let slow = try BMCCollectorTests.fakeIpmitool(tree, output: "", hangs: true)
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: CollectorError.failed("\(slow) did not answer within 0.3 seconds")) {
            try await BMCCollector(command: [slow], interval: .seconds(30), timeout: .milliseconds(300)).collect()
        }
        #expect(started.duration(to: clock.now) < .seconds(10))
    }
}
