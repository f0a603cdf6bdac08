/// Errors of the sample store and its writer.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// The write queue is full: retry later.
    case saturated(pendingSamples: Int)
    /// The writer is shutting down and takes no more writes.
    case shuttingDown
    /// SQLite refused an operation; the message names it.
    case database(String)

    public var description: String {
        switch self {
        case .saturated(let pending): "write queue full (\(pending) samples pending)"
        case .shuttingDown: "shutting down"
        case .database(let message): "database: \(message)"
        }
    }
}
