import Synchronization

/// Runs the calls of one piece of work one after another, in the order they came: an engine's
/// own loop and another caller asking for a round at the same moment would otherwise both read
/// the same state and both write it (a change counted twice, an alert fired twice).
final class RunsInTurn: Sendable {
    private let last = Mutex<Task<Void, any Error>?>(nil)

    func run(_ work: @escaping @Sendable () async throws -> Void) async throws {
        let turn = last.withLock { last in
            let previous = last
            let next = Task {
                _ = await previous?.result
                try await work()
            }
            last = next
            return next
        }
        try await turn.value
    }
}
