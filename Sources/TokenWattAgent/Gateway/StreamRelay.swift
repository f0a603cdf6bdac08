import AsyncHTTPClient
import Hummingbird
import NIOCore
import Synchronization

/// Relays an upstream's event stream to the client while reading its usage. The upstream is
/// read by a task of its own, not the client's: a client that leaves mid-stream stops getting
/// bytes, but the upstream is read on to its end (within `abandonedTimeout`) so that the
/// tokens it generated are counted and settled all the same.
struct StreamRelay: Sendable {
    /// The reader task, and whether the client left.
    private final class Control: Sendable {
        let state = Mutex<(reader: Task<Void, Never>?, abandoned: Bool)>((nil, false))
        let abandonedTimeout: Duration

        init(abandonedTimeout: Duration) {
            self.abandonedTimeout = abandonedTimeout
        }

        var abandoned: Bool { state.withLock { $0.abandoned } }

        /// The client left: the upstream is read on, but not for ever.
        func abandon() {
            guard let reader = state.withLock({ state -> Task<Void, Never>? in
                guard !state.abandoned else { return nil }
                state.abandoned = true
                return state.reader
            }) else { return }
            let timeout = abandonedTimeout
            Task {
                try? await Task.sleep(for: timeout)
                reader.cancel()
            }
        }
    }

    private let chunks: AsyncStream<[UInt8]>
    private let control: Control

    /// `finished` runs once the upstream ended (or was given up on), with the scanner that
    /// read it and whether the client had left.
    init(upstream: HTTPClientResponse.Body, scanner: GatewayUsage.StreamScanner, abandonedTimeout: Duration,
         finished: @escaping @Sendable (GatewayUsage.StreamScanner, Bool) async -> Void) {
        let (chunks, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        let control = Control(abandonedTimeout: abandonedTimeout)
        self.chunks = chunks
        self.control = control
        let task = Task {
            var scanner = scanner
            do {
                for try await buffer in upstream {
                    let passed = scanner.feed(Array(buffer: buffer))
                    if !passed.isEmpty && !control.abandoned { continuation.yield(passed) }
                }
            } catch {
                // Cut, or given up on: what was read is what is counted.
            }
            let rest = scanner.finish()
            if !rest.isEmpty { continuation.yield(rest) }
            continuation.finish()
            await finished(scanner, control.abandoned)
        }
        control.state.withLock { $0.reader = task }
        continuation.onTermination = { termination in
            if case .cancelled = termination { control.abandon() }
        }
    }

    /// Writes the relayed bytes to the client as they come.
    func write(to writer: inout any ResponseBodyWriter) async throws {
        do {
            for await chunk in chunks {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            if Task.isCancelled { throw CancellationError() }
            try await writer.finish(nil)
        } catch {
            control.abandon()
            throw error
        }
    }
}
