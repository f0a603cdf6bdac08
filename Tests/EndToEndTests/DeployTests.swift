import Foundation
import Testing
import TokenWattTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The shipped deployment files, checked with the tools operators use on them.
@Suite struct DeployTests {
    static var root: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    @Test(arguments: ["tokenwatt-agent", "tokenwatt-gateway", "tokenwatt-aggregator"])
    func unitsVerifyAndAreHardened(_ name: String) async throws {
        let directory = try Environment.temporaryDirectory("units")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The units name /usr/bin; here the binaries are in the build folder.
        let unit = try String(contentsOf: DeployTests.root.appendingPathComponent("deploy/systemd/\(name).service"), encoding: .utf8)
            .replacingOccurrences(of: "/usr/bin/", with: Environment.binDirectory + "/")
        let path = "\(directory)/\(name).service"
        try unit.write(toFile: path, atomically: true, encoding: .utf8)
        let verify = try await ChildProcess.run("/usr/bin/systemd-analyze", ["verify", path], directory: directory)
        #expect(verify.status == 0 && verify.output.isEmpty, "\(verify.output)")
        let security = try await ChildProcess.run("/usr/bin/systemd-analyze", ["security", "--offline=true", path], directory: directory)
        let line = try #require(security.output.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: " ").compactMap { Double($0) }.first)
        // systemd rates 0–10; up to 3.9 is "OK". docs/operations.md quotes the figures.
        #expect(score <= 2.5, "\(line)")
        #expect(unit.contains("Type=notify") && unit.contains("WatchdogSec=") && unit.contains("Restart=on-failure"))
    }

    @Test func prometheusConfigRulesAndAlertmanagerRoutingPassTheirCheckers() async throws {
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
            let result = try await ChildProcess.run(tool, arguments, directory: directory)
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

    /// Runs a command as root: directly when the tests run as root, else through `sudo -n`.
    static func asRoot(_ arguments: [String], directory: String) async throws -> (status: Int32, output: String) {
        getuid() == 0 ? try await ChildProcess.run(arguments[0], Array(arguments.dropFirst()), directory: directory)
            : try await ChildProcess.run("/usr/bin/sudo", ["-n"] + arguments, directory: directory)
    }

    @Test func packagesInstallRemoveKeepingConfigAndPurge() async throws {
        let directory = try Environment.temporaryDirectory("packages")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let build = try await ChildProcess.run("/bin/bash", [DeployTests.root.appendingPathComponent("deploy/package/build-debs.sh").path,
                                                             "--bin", Environment.binDirectory, "--out", directory, "--version", "0.0.1",
                                                             "--compression", "none"], directory: directory)
        #expect(build.status == 0, "\(build.output)")
        let arch = try await ChildProcess.run("/usr/bin/dpkg", ["--print-architecture"], directory: directory).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let agent = "\(directory)/tokenwatt-agent_0.0.1_\(arch).deb", aggregator = "\(directory)/tokenwatt-aggregator_0.0.1_\(arch).deb"
        let gateway = "\(directory)/tokenwatt-gateway_0.0.1_\(arch).deb"
        let packages = ["tokenwatt-agent", "tokenwatt-gateway", "tokenwatt-aggregator"]

        let info = try await ChildProcess.run("/usr/bin/dpkg-deb", ["--info", agent], directory: directory).output
        #expect(info.contains("Package: tokenwatt-agent") && info.contains("conffiles") && info.contains("postinst"))
        let contents = try await ChildProcess.run("/usr/bin/dpkg-deb", ["--contents", aggregator], directory: directory).output
        for path in ["./usr/bin/tokenwatt-aggregator", "./usr/bin/tokenwatt", "./lib/systemd/system/tokenwatt-aggregator.service", "./etc/tokenwatt/aggregator.yml"] {
            #expect(contents.contains(path), "\(path) not in the package")
        }

        do {
            let install = try await DeployTests.asRoot(["/usr/bin/dpkg", "-i", agent, gateway, aggregator], directory: directory)
            #expect(install.status == 0, "dpkg -i: \(install.output)")
            let files = FileManager.default
            for path in ["/usr/bin/tokenwatt-agent", "/usr/bin/tokenwatt-gateway", "/usr/bin/tokenwatt-aggregator", "/usr/bin/tokenwatt", "/etc/tokenwatt/agent.yml",
                         "/etc/tokenwatt/gateway.yml", "/etc/tokenwatt/gateway-caller.key", "/etc/tokenwatt/aggregator.yml",
                         "/var/lib/tokenwatt-agent", "/var/lib/tokenwatt-gateway", "/var/lib/tokenwatt",
                         "/etc/systemd/system/multi-user.target.wants/tokenwatt-agent.service",
                         "/etc/systemd/system/multi-user.target.wants/tokenwatt-gateway.service"] {
                #expect(files.fileExists(atPath: path), "\(path) missing after dpkg -i")
            }
            for user in ["tokenwatt-agent", "tokenwatt-gateway", "tokenwatt"] {
                #expect(try await ChildProcess.run("/usr/bin/getent", ["passwd", user], directory: directory).status == 0, "no user \(user)")
            }
            let owner = try files.attributesOfItem(atPath: "/var/lib/tokenwatt-agent")[.ownerAccountName] as? String
            #expect(owner == "tokenwatt-agent")
            let mode = try files.attributesOfItem(atPath: "/etc/tokenwatt/agent.yml")[.posixPermissions] as? Int
            #expect(mode == 0o640)
            let verify = try await ChildProcess.run("/usr/bin/systemd-analyze", ["verify"] + packages.map { "/lib/systemd/system/\($0).service" },
                                                    directory: directory)
            #expect(verify.status == 0 && verify.output.isEmpty, "\(verify.output)")
            for config in ["agent.yml", "gateway.yml", "aggregator.yml"] {
                let check = try await ChildProcess.run("/usr/bin/tokenwatt", ["check-config", "/etc/tokenwatt/\(config)"], directory: directory)
                #expect(check.status == 0, "\(config): \(check.output)")
            }
            // Each daemon starts with its packaged config, as its unit starts it (on a free port here), and stops cleanly.
            for (daemon, extra) in [("tokenwatt-aggregator", ["--data-dir", "\(directory)/data"]), ("tokenwatt-agent", ["--no-discovery"]), ("tokenwatt-gateway", [])] {
                let port = Environment.freePort()
                let config = "/etc/tokenwatt/\(daemon.dropFirst("tokenwatt-".count)).yml"
                let child = try ChildProcess("/usr/bin/\(daemon)", ["--config", config, "--listen", "127.0.0.1:\(port)"] + extra,
                                             logPath: "\(directory)/\(daemon).log", directory: directory)
                try await child.waitUntilServing("http://127.0.0.1:\(port)/-/healthy", what: "the packaged \(daemon) to start")
                await child.kill(signal: SIGTERM)
                #expect(await child.exitStatus() == 0, "\(daemon): \(child.log.suffix(1_000))")
            }

            // Removed: the programs go, the config stays.
            #expect(try await DeployTests.asRoot(["/usr/bin/dpkg", "-r"] + packages, directory: directory).status == 0)
            #expect(!files.fileExists(atPath: "/usr/bin/tokenwatt-agent") && !files.fileExists(atPath: "/usr/bin/tokenwatt-gateway"))
            #expect(files.fileExists(atPath: "/etc/tokenwatt/agent.yml") && files.fileExists(atPath: "/etc/tokenwatt/gateway-caller.key"))
            // Purged: config and state go too.
            #expect(try await DeployTests.asRoot(["/usr/bin/dpkg", "--purge"] + packages, directory: directory).status == 0)
            for path in ["/etc/tokenwatt/agent.yml", "/etc/tokenwatt/gateway.yml", "/etc/tokenwatt/gateway-caller.key", "/etc/tokenwatt/aggregator.yml",
                         "/var/lib/tokenwatt-agent", "/var/lib/tokenwatt-gateway", "/var/lib/tokenwatt"] {
                #expect(!files.fileExists(atPath: path), "\(path) left after purge")
            }
        } catch {
            // A step that threw skipped the purge: the machine keeps no package of ours.
            _ = try? await DeployTests.asRoot(["/usr/bin/dpkg", "--purge"] + packages, directory: directory)
            throw error
        }
    }

    @Test func installScriptStagesEverythingAndKeepsAnOperatorsConfig() async throws {
        let directory = try Environment.temporaryDirectory("install")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = DeployTests.root.appendingPathComponent("deploy/install.sh").path
        let stage = "\(directory)/root"
        var result = try await ChildProcess.run("/bin/bash", [script, "all", "--bin", Environment.binDirectory, "--root", stage], directory: directory)
        #expect(result.status == 0, "\(result.output)")
        for path in ["usr/local/bin/tokenwatt-agent", "usr/local/bin/tokenwatt-gateway", "usr/local/bin/tokenwatt-aggregator", "usr/local/bin/tokenwatt",
                     "etc/systemd/system/tokenwatt-agent.service", "etc/systemd/system/tokenwatt-gateway.service", "etc/tokenwatt/agent.yml",
                     "etc/tokenwatt/gateway.yml", "etc/tokenwatt/gateway-caller.key", "etc/tokenwatt/aggregator.yml", "var/lib/tokenwatt-agent",
                     "var/lib/tokenwatt-gateway"] {
            #expect(FileManager.default.fileExists(atPath: "\(stage)/\(path)"), "\(path) missing")
        }
        let unit = try String(contentsOfFile: "\(stage)/etc/systemd/system/tokenwatt-agent.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/bin/tokenwatt-agent --config /etc/tokenwatt/agent.yml"))
        try "interval: 5s\n".write(toFile: "\(stage)/etc/tokenwatt/agent.yml", atomically: true, encoding: .utf8)
        result = try await ChildProcess.run("/bin/bash", [script, "agent", "--bin", Environment.binDirectory, "--root", stage], directory: directory)
        #expect(result.status == 0)
        #expect(try String(contentsOfFile: "\(stage)/etc/tokenwatt/agent.yml", encoding: .utf8) == "interval: 5s\n")
    }
}
