import CSystemd
import Foundation
import ServiceLifecycle
import TokenWattCore

/// Keeps systemd up to date while a daemon runs: `WATCHDOG=1` at half of `WATCHDOG_USEC` when
/// the unit has a watchdog, and a fresh `STATUS=` line each time. Outside systemd it only waits
/// for the shutdown (a service group takes a service that returns early for a failure).
public struct SystemdHeartbeat: Service {
    /// How often the status is refreshed when there is no watchdog.
    static let statusInterval: Duration = .seconds(10)

    private let status: @Sendable () -> String

    public init(status: @escaping @Sendable () -> String) {
        self.status = status
    }

    public func run() async throws {
        guard Systemd.isRunningUnderSystemd else {
            try? await gracefulShutdown()
            return
        }
        let period = Systemd.watchdogInterval.map { $0 / 2 } ?? SystemdHeartbeat.statusInterval
        let watchdog = Systemd.watchdogInterval != nil
        await PeriodicWork.run(every: period) {
            Systemd.notify((watchdog ? "WATCHDOG=1\n" : "") + "STATUS=\(status())")
        }
    }
}

extension Systemd {
    /// Whether systemd listens for notifications (`NOTIFY_SOCKET` is set).
    public static var isRunningUnderSystemd: Bool {
        getenv("NOTIFY_SOCKET") != nil
    }

    /// The unit's watchdog timeout (`WATCHDOG_USEC`, for this process), if it has one.
    public static var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }
}
