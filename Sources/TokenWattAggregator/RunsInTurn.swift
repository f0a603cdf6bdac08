import Synchronization

/// Runs the calls of one piece of work one after another, in the order they came: an engine's
/// own loop and another caller asking for a round at the same moment would otherwise both read
/// the same state and both write it (a change counted twice, an alert fired twice).
final class RunsInTurn: Sendable {
    private let last = Mutex<Task<Void, Never>?>(nil)

    func run<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let turn = last.withLock { last in
            let previous = last
            let next = Task {
                _ = await previous?.value
                return try await work()
            }
            last = Task { _ = await next.result }
            return next
        }
        return try await turn.value
    }
}
