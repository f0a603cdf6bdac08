import Foundation
import Testing

/// The shipped deployment files, checked with the tools operators use on them.
@Suite struct DeployTests {
    static var root: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    /// Runs a command; its exit status and output.
    static func run(_ executable: String, _ arguments: [String], directory: String) throws -> (status: Int32, output: String) {
        let child = try ChildProcess(executable, arguments, logPath: "\(directory)/\(URL(fileURLWithPath: executable).lastPathComponent)-\(UUID().uuidString).log")
        child.process.waitUntilExit()
        return (child.process.terminationStatus, child.log)
    }

    @Test(arguments: ["tokenwatt-agent", "tokenwatt-aggregator"])
    func unitsVerifyAndAreHardened(_ name: String) throws {
        let directory = try Environment.temporaryDirectory("units")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The units name /usr/bin; here the binaries are in the build folder.
        let unit = try String(contentsOf: DeployTests.root.appendingPathComponent("deploy/systemd/\(name).service"), encoding: .utf8)
            .replacingOccurrences(of: "/usr/bin/", with: Environment.binDirectory + "/")
        let path = "\(directory)/\(name).service"
        try unit.write(toFile: path, atomically: true, encoding: .utf8)
        let verify = try DeployTests.run("/usr/bin/systemd-analyze", ["verify", path], directory: directory)
        #expect(verify.status == 0 && verify.output.isEmpty, "\(verify.output)")
        let security = try DeployTests.run("/usr/bin/systemd-analyze", ["security", "--offline=true", path], directory: directory)
        let line = try #require(security.output.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: " ").compactMap { Double($0) }.first)
        // systemd rates 0–10; up to 3.9 is "OK". README.md quotes the figures.
        #expect(score <= 2.5, "\(line)")
        #expect(unit.contains("Type=notify") && unit.contains("WatchdogSec=") && unit.contains("Restart=on-failure"))
    }

    @Test func prometheusConfigRulesAndAlertmanagerRoutingPassTheirCheckers() throws {
        let directory = try Environment.temporaryDirectory("rules")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let deploy = DeployTests.root.appendingPathComponent("deploy").path
        for (tool, arguments) in [
            ("/usr/bin/promtool", ["check", "config", "\(deploy)/prometheus/prometheus.yml"]),
            ("/usr/bin/promtool", ["check", "rules", "\(deploy)/prometheus/rules/tokenwatt-recording.yml", "\(deploy)/prometheus/rules/tokenwatt-alerts.yml"]),
            // A unit test for every alerting rule: firing when it should, silent when it should.
            ("/usr/bin/promtool", ["test", "rules", "\(deploy)/prometheus/tests/tokenwatt-alerts.test.yml"]),
            ("/usr/bin/amtool", ["check-config", "\(deploy)/alertmanager/alertmanager.yml"]),
        ] {
            let result = try DeployTests.run(tool, arguments, directory: directory)
            #expect(result.status == 0, "\(tool) \(arguments.joined(separator: " ")): \(result.output)")
        }
        // Every alerting rule has a unit test.
        let rules = try String(contentsOfFile: "\(deploy)/prometheus/rules/tokenwatt-alerts.yml", encoding: .utf8)
        let tests = try String(contentsOfFile: "\(deploy)/prometheus/tests/tokenwatt-alerts.test.yml", encoding: .utf8)
        let alerts = rules.split(separator: "\n").compactMap { line -> String? in
            let text = line.trimmingCharacters(in: .whitespaces)
            return text.hasPrefix("- alert: ") ? String(text.dropFirst("- alert: ".count)) : nil
        }
        #expect(alerts.count == 7)
        for alert in alerts { #expect(tests.contains("alertname: \(alert)\n"), "no test for \(alert)") }
    }
}
