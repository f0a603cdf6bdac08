import Synchronization

/// A capped stream's output allowance: what its ticket holds for output, drawn further from
/// the gateway's slices, `step` tokens at a time, as the text passes it; a slice without room
/// asks the aggregator for more, as a waiting request does. When the caps have no more room the
/// stream ends there with the API's own length ending (`ending`), so that a request reserved at
/// its caller's typical output (or one whose upstream writes past its worst case) never takes
/// a cap past its limit.
final class StreamAllowance: Sendable {
    static let step = 256

    private let leases: LeaseSyncer
    private let state: Mutex<(ticket: LeaseBook.Ticket, allowed: Int)>

    init(leases: LeaseSyncer, ticket: LeaseBook.Ticket, output: Int) {
        self.leases = leases
        state = Mutex((ticket, output))
    }

    /// The ticket with everything drawn since: what the stream settles.
    var ticket: LeaseBook.Ticket { state.withLock { $0.ticket } }

    /// Whether `output` tokens fit, drawing more from the slices when they do not yet, and
    /// asking the aggregator for room once when the slices have none.
    func allows(_ output: Int) async -> Bool {
        guard let more = draw(output) else { return true }
        if more > 0 { return true }
        let waiting = state.withLock { leases.book.ask(for: $0.ticket, output: Double(max(StreamAllowance.step, output - $0.allowed))) }
        defer { leases.book.doneWaiting(waiting) }
        guard await leases.syncNow() else { return false }
        return (draw(output) ?? 1) > 0
    }

    /// Nil when `output` fits already; else what was drawn (0: the slices have no room).
    private func draw(_ output: Int) -> Int? {
        state.withLock { state in
            guard output > state.allowed else { return nil }
            let more = max(StreamAllowance.step, output - state.allowed)
            guard leases.book.draw(&state.ticket, output: Double(more), nowMs: Monotonic.milliseconds()) else { return 0 }
            state.allowed += more
            return more
        }
    }

    /// The events that end a stream early the way the API ends one at its output limit:
    /// `finish_reason: "length"` (OpenAI's chat and completions; `[DONE]` follows, as the
    /// relay's closing writes it), `stop_reason: "max_tokens"` (Anthropic's messages),
    /// `response.incomplete` for `max_output_tokens` (the Responses API, repeating the response
    /// its stream began with).
    static func ending(path: String, model: String, outputTokens: Int, responseCreated: [UInt8]?) -> [UInt8] {
        switch path {
        case "/v1/messages":
            StreamEvents.event("message_delta", StreamEvents.MessageDelta(usage: .init(outputTokens: outputTokens)))
                + StreamEvents.event("message_stop", StreamEvents.MessageStop())
        case "/v1/responses":
            StreamEvents.event("response.incomplete", StreamEvents.ResponseIncomplete.after(responseCreated, model: model))
        case "/v1/completions":
            StreamEvents.event(nil, StreamEvents.LengthChunk.completion(model: model))
        default:
            StreamEvents.event(nil, StreamEvents.LengthChunk.chat(model: model))
        }
    }
}
