import Foundation
import Synchronization
import TokenWattCore
import TokenWattSender

/// Whole-node power from the BMC through `ipmitool dcmi power reading` (the command is
/// configurable), on its own slow schedule: `tokenwatt_node_power_watts{source="dcmi"}`, and
/// integrated by the agent into `tokenwatt_node_energy_joules_total{source="dcmi"}`.
final class BMCCollector: Collector {
    let name = "bmc"
    let interval: Duration?
    let timeout: Duration
    private let command: [String]
    private let now: @Sendable () -> Double
    private let integrator: Mutex<PowerIntegrator>

    init(command: [String], interval: Duration, timeout: Duration,
         now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.command = command
        self.interval = interval
        self.timeout = timeout
        self.now = now
        // Bridges a missed reading or two, not an outage.
        integrator = Mutex(PowerIntegrator(maxGapSeconds: 3 * Double(interval.components.seconds)))
    }

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        let output = try await run()
        guard let watts = BMCCollector.parse(output) else {
            let firstLine = output.split(separator: "\n").first.map(String.init) ?? "nothing"
            throw .failed("no \"Instantaneous power reading\" in the output of \(command.joined(separator: " ")): \(firstLine)")
        }
        let joules = integrator.withLock { integrator in
            integrator.add(watts: watts, atSeconds: now())
            return integrator.joules
        }
        var samples = SampleList()
        samples.add(.nodePowerWatts, watts, [("source", "dcmi")])
        samples.add(.nodeEnergyJoules, joules, [("source", "dcmi")])
        return samples.samples
    }

    /// "Instantaneous power reading:   250 Watts" → 250.
    static func parse(_ output: String) -> Double? {
        for line in output.split(separator: "\n") where line.contains("Instantaneous power reading") {
            let fields = line.split(whereSeparator: { $0 == ":" || $0 == " " })
            if let watts = fields.compactMap({ Double($0) }).first { return watts }
        }
        return nil
    }

    /// Runs the command on a thread of its own (it blocks) and returns its standard output;
    /// killed when it outlives the timeout.
    private func run() async throws(CollectorError) -> String {
        let result = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { [command, timeout] in
                continuation.resume(returning: BMCCollector.runBlocking(command, timeout: timeout))
            }
        }
        return try result.get()
    }

    private static func runBlocking(_ command: [String], timeout: Duration) -> Result<String, CollectorError> {
        guard let executable = command.first else { return .failure(.noData("no BMC command configured")) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.contains("/") ? executable : "/usr/bin/env")
        process.arguments = executable.contains("/") ? Array(command.dropFirst()) : command
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            return .failure(.noData("cannot run \(executable): \(error.localizedDescription)"))
        }
        // Its few lines fit in the pipes' buffers, so they are read once it has exited.
        let timedOut = exited.wait(timeout: .now() + .milliseconds(Int(timeout.seconds * 1000))) == .timedOut
        if timedOut {
            // SIGKILL: a daemon that ignores SIGTERM passes that on to its children.
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        let shown = command.joined(separator: " ")
        if timedOut { return .failure(.failed("\(shown) did not answer within \(timeout)")) }
        guard process.terminationStatus == 0 else {
            // env answers 127 when the command is not installed.
            if process.terminationStatus == 127 { return .failure(.noData("\(executable) is not installed")) }
            let message = String(decoding: errors, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            return .failure(.failed("\(shown) exited with \(process.terminationStatus): \(message)"))
        }
        return .success(String(decoding: output, as: UTF8.self))
    }
}
