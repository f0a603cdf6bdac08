import TokenWattCore

/// One GPU's energy split among what ran on it, reading by reading, into counters that only
/// grow: each consumer's, `idle` for the power the GPU draws doing nothing (the lowest it was
/// seen to draw), and `unattributed` for activity no process on it explains. Every joule of
/// the GPU's counter goes to exactly one of them, so the counters add up to the GPU's energy
/// since the split began.
struct GPUEnergySplit: Sendable {
    /// How the active energy was shared out.
    enum Basis: String, Sendable {
        /// The processes' SM activity (NVML's per-process samples).
        case sm
        /// The memory each process holds (no per-process samples).
        case memory
        /// MIG: each instance's size (NVML has no activity per instance), then its processes' memory.
        case mig
        /// No process to share it with: all `unattributed`.
        case none
    }

    private(set) var joules: [String: Double] = [:]
    /// The lowest power seen: what the GPU draws idle.
    private(set) var idleWatts: Double?
    /// The GPU's energy at the last reading, and when.
    private var last: (joules: Double, seconds: Double)?

    /// Adds the energy since the last reading (`energy` is the GPU's counter), idle first, the
    /// rest by `weights` (any scale; those ≤ 0 get nothing).
    mutating func add(energy: Double, atSeconds seconds: Double, watts: Double?, weights: [String: Double]) {
        if let watts, watts.isFinite, watts >= 0 { idleWatts = min(idleWatts ?? watts, watts) }
        defer { last = (energy, seconds) }
        guard let last, energy >= last.joules, seconds > last.seconds else { return }
        let increase = energy - last.joules
        let idle = min(increase, (idleWatts ?? 0) * (seconds - last.seconds))
        joules[GPUConsumer.idle, default: 0] += idle
        let active = increase - idle
        let shares = weights.filter { $0.value > 0 && $0.value.isFinite }.sorted { $0.key < $1.key }
        let total = shares.reduce(0) { $0 + $1.value }
        guard total > 0 else {
            joules[GPUConsumer.unattributed, default: 0] += active
            return
        }
        // The last share takes what rounding left, so the parts add up to the whole.
        var given = 0.0
        for (index, share) in shares.enumerated() {
            let part = index == shares.count - 1 ? active - given : active * share.value / total
            joules[share.key, default: 0] += part
            given += part
        }
    }
}
