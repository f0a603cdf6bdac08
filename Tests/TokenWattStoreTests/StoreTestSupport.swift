import Foundation
import GRDB
import Logging
import TokenWattCore
import TokenWattTestSupport
@testable import TokenWattStore
@testable import TokenWattConfiguration

/// The stores in a fresh temporary folder, removed when the test ends.
func withTemporaryStores<T>(_ configure: (inout StorageConfiguration) -> Void = { _ in },
                            _ body: (Stores, StorageConfiguration) async throws -> T) async throws -> T {
    var configuration = StorageConfiguration()
    configuration.directory = Environment.temporaryPath("store")
    configure(&configuration)
    defer { try? FileManager.default.removeItem(atPath: configuration.directory) }
    let stores = try Stores(configuration: configuration, logger: Logger(label: "test"))
    let result = try await body(stores, configuration)
    try stores.close()
    return result
}

/// The sample store in a fresh temporary folder, removed when the test ends.
func withTemporaryStore<T>(_ configure: (inout StorageConfiguration) -> Void = { _ in },
                           _ body: (SampleStore, StorageConfiguration) async throws -> T) async throws -> T {
    try await withTemporaryStores(configure) { stores, configuration in try await body(stores.samples, configuration) }
}

/// The stores opened on a database an earlier schema version left, with the rows `seed` wrote
/// into it at that version: what a migration meets.
func withStoreMigrated(from version: String, seed: @escaping @Sendable (Database) throws -> Void,
                       _ body: (Stores) async throws -> Void) async throws {
    var configuration = StorageConfiguration()
    configuration.directory = Environment.temporaryPath("migration")
    defer { try? FileManager.default.removeItem(atPath: configuration.directory) }
    try FileManager.default.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true)
    do {
        let queue = try DatabaseQueue(path: configuration.databasePath)
        try Schema.migrator.migrate(queue, upTo: version)
        try await queue.write(seed)
    }
    let stores = try Stores(configuration: configuration, logger: Logger(label: "test"))
    try await body(stores)
    try stores.close()
}

func series(_ name: String, _ labels: [String: String] = [:], _ samples: [(Int64, Double)]) -> TimeSeries {
    var all = labels
    all["__name__"] = name
    return TimeSeries(labels: try! LabelSet(dictionary: all), samples: samples.map { Sample(timestamp: $0.0, value: $0.1) })
}
