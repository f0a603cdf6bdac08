/// A run of samples waiting to be sent with remote write: a row of the agent's spool or of the
/// aggregator's forwarding log. Its body is a serialised `WriteRequest` before snappy, so the
/// bodies of several batches concatenate into one request (protobuf appends repeated fields).
public struct RemoteWriteBatch: Sendable, Equatable {
    /// The row's id: batches of one queue are sent in id order.
    public let id: Int64
    public let createdMs: Int64
    public let samples: Int
    public let body: [UInt8]

    public init(id: Int64, createdMs: Int64, samples: Int, body: [UInt8]) {
        self.id = id
        self.createdMs = createdMs
        self.samples = samples
        self.body = body
    }
}
