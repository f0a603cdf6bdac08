/// The agent's answer to `POST /v1/usage`: how many reports it took, how many it had seen
/// before (by their ids), and the attributes it left out or counted as `other`.
public struct UsageAnswer: Codable, Sendable, Equatable {
    public var accepted: Int
    public var duplicates: Int
    public var droppedAttributes: [String]
    public var overflowedAttributes: [String]

    public init(accepted: Int, duplicates: Int, droppedAttributes: [String], overflowedAttributes: [String]) {
        self.accepted = accepted
        self.duplicates = duplicates
        self.droppedAttributes = droppedAttributes
        self.overflowedAttributes = overflowedAttributes
    }

    private enum CodingKeys: String, CodingKey {
        case accepted, duplicates
        case droppedAttributes = "dropped_attributes", overflowedAttributes = "overflowed_attributes"
    }
}

/// What the agent's usage endpoint refuses with: `{"error": "..."}`.
public struct UsageRefusal: Codable, Sendable, Equatable {
    public var error: String

    public init(error: String) {
        self.error = error
    }
}
