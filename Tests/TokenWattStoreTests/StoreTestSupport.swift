import Foundation
import Logging
import TokenWattCore
@testable import TokenWattStore

/// A store in a fresh temporary folder, removed when the test ends.
func withTemporaryStore<T>(_ configure: (inout StorageConfiguration) -> Void = { _ in },
                           _ body: (SampleStore, StorageConfiguration) async throws -> T) async throws -> T {
    var configuration = StorageConfiguration()
    configuration.directory = FileManager.default.temporaryDirectory.appendingPathComponent("tokenwatt-store-\(UUID().uuidString)").path
    configure(&configuration)
    defer { try? FileManager.default.removeItem(atPath: configuration.directory) }
    let store = try SampleStore(configuration: configuration, logger: Logger(label: "test"))
    let result = try await body(store, configuration)
    try store.close()
    return result
}

func series(_ name: String, _ labels: [String: String] = [:], _ samples: [(Int64, Double)]) -> TimeSeries {
    var all = labels
    all["__name__"] = name
    return TimeSeries(labels: try! LabelSet(dictionary: all), samples: samples.map { Sample(timestamp: $0.0, value: $0.1) })
}
