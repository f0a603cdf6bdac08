import TokenWattCore
import TokenWattSender

/// `/proc/meminfo` → `tokenwatt_memory_used_bytes` (total minus available) and
/// `tokenwatt_memory_total_bytes`.
struct MemoryCollector: Collector {
    let name = "memory"
    let procfs: SystemFiles

    func collect() async throws(CollectorError) -> [ExpositionSample] {
        let text: String
        switch procfs.read("meminfo") {
        case .success(let content): text = content
        case .failure(let error): throw .failed("\(error)")
        }
        var kibibytes: [Substring: Double] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, fields[0].hasSuffix(":"), let value = Double(fields[1]) else { continue }
            kibibytes[fields[0].dropLast()] = value
        }
        guard let total = kibibytes["MemTotal"] else { throw .failed("no MemTotal in \(procfs.path("meminfo"))") }
        // MemAvailable since Linux 3.14; before it, free plus page cache is the closest.
        let available = kibibytes["MemAvailable"]
            ?? (kibibytes["MemFree"] ?? 0) + (kibibytes["Buffers"] ?? 0) + (kibibytes["Cached"] ?? 0)
        var samples = SampleList()
        samples.add(.memoryTotalBytes, total * 1024)
        samples.add(.memoryUsedBytes, (total - available) * 1024)
        return samples.samples
    }
}
