import ServiceLifecycle

/// The one loop behind every periodic service (the cost ledger, the advisor, maintenance, the
/// forwarder's snapshots, inference discovery, the systemd heartbeat): a round every
/// `interval` on `clock`, until a graceful shutdown begins or the task is cancelled (another
/// service of the group failed). A shutdown cuts the wait short, never a round. A round that
/// fails says so itself and the next runs on time.
public enum PeriodicWork {
    /// Runs `round` at once (or after one interval, with `waitFirst`), then every `interval`.
    public static func run<C: Clock>(every interval: C.Duration, clock: C, waitFirst: Bool = false,
                                     _ round: () async -> Void) async {
        if waitFirst, !(await pause(interval, clock: clock)) { return }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await round()
            guard await pause(interval, clock: clock) else { return }
        }
    }

    /// `run` on the continuous clock.
    public static func run(every interval: Duration, waitFirst: Bool = false, _ round: () async -> Void) async {
        await run(every: interval, clock: ContinuousClock(), waitFirst: waitFirst, round)
    }

    /// Waits `interval`; false when a graceful shutdown or cancellation cut it short. Every
    /// wait of a service (its rounds, its backoff) goes through here.
    @discardableResult
    public static func pause<C: Clock>(_ interval: C.Duration, clock: C) async -> Bool {
        (try? await cancelWhenGracefulShutdown { try await clock.sleep(for: interval) }) != nil
    }

    /// `pause` on the continuous clock.
    @discardableResult
    public static func pause(_ interval: Duration) async -> Bool {
        await pause(interval, clock: ContinuousClock())
    }
}
