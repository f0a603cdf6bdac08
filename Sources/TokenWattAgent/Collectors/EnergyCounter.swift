/// Turns a hardware energy counter (which wraps or restarts) into a counter that only grows.
struct EnergyCounter: Sendable {
    /// Where the raw counter wraps to 0, when known (RAPL's `max_energy_range_uj`).
    var wrapsAt: Double?
    private var last: Double?
    /// Joules counted so far; starts at the first reading, so it matches the hardware's count.
    private(set) var total: Double?

    /// Adds a reading in joules. A reading below the last is a wrap when the wrap point is known;
    /// without it, `restartsAtZero` counts it as a restart from 0 (NVML after a driver reload),
    /// else the step is skipped and counting goes on from the new reading. Never a negative step.
    mutating func add(_ reading: Double, restartsAtZero: Bool = false) {
        defer { last = reading }
        guard let last, let total else {
            total = reading
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
struct PowerIntegrator: Sendable {
    /// Gaps longer than this are not bridged: the power in between is unknown.
    var maxGapSeconds: Double
    private var last: (watts: Double, seconds: Double)?
    private(set) var joules: Double = 0

    init(maxGapSeconds: Double) {
        self.maxGapSeconds = maxGapSeconds
    }

    mutating func add(watts: Double, atSeconds seconds: Double) {
        defer { last = (watts, seconds) }
        guard let last, seconds > last.seconds, seconds - last.seconds <= maxGapSeconds else { return }
        joules += (last.watts + watts) / 2 * (seconds - last.seconds)
    }
}
