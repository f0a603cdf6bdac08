/// Turns a raw counter that wraps or restarts (a hardware energy counter, an inference server's
/// token counter) into one that only grows.
package struct MonotonicCounter: Sendable, Equatable {
    /// Where the raw counter wraps to 0, when known (RAPL's `max_energy_range_uj`).
    package var wrapsAt: Double?
    /// The last raw reading.
    private(set) var last: Double?
    /// The count so far; starts at the first reading, so it matches the source's own count.
    package private(set) var total: Double?

    package init(wrapsAt: Double? = nil) {
        self.wrapsAt = wrapsAt
    }

    /// Resumes a counter saved before a restart.
    init(last: Double?, total: Double) {
        self.last = last
        self.total = total
    }

    /// Adds a reading. A reading below the last is a wrap when the wrap point is known; without
    /// it, `restartsAtZero` counts it as a restart from 0 (NVML after a driver reload, a server
    /// restart), else the step is skipped and counting goes on from the new reading. Never a
    /// negative step.
    package mutating func add(_ reading: Double, restartsAtZero: Bool = false) {
        guard reading.isFinite else { return }
        defer { last = reading }
        guard let total else {
            total = reading
            return
        }
        guard let last else {
            self.total = total + reading
            return
        }
        if reading >= last {
            self.total = total + (reading - last)
        } else if let wrapsAt {
            self.total = total + (wrapsAt - last) + reading
        } else if restartsAtZero {
            self.total = total + reading
        }
    }
}

/// Integrates a power gauge into energy (trapezoids) for sources without an energy counter.
package struct PowerIntegrator: Sendable {
    /// Gaps longer than this are not bridged: the power in between is unknown.
    var maxGapSeconds: Double
    private var last: (watts: Double, seconds: Double)?
    package private(set) var joules: Double = 0

    package init(maxGapSeconds: Double) {
        self.maxGapSeconds = maxGapSeconds
    }

    package mutating func add(watts: Double, atSeconds seconds: Double) {
        defer { last = (watts, seconds) }
        guard let last, seconds > last.seconds, seconds - last.seconds <= maxGapSeconds else { return }
        joules += (last.watts + watts) / 2 * (seconds - last.seconds)
    }
}
