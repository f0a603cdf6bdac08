import AsyncHTTPClient
import Hummingbird
import NIOCore
import Synchronization

/// Relays an upstream's event stream to the client while reading its usage. The client's own
/// task reads the upstream and writes each piece on (no hop between tasks per event). A
/// client that leaves mid-stream stops getting bytes, but the upstream is read on to its end
/// by a task of its own (within `abandonedTimeout`), so that the tokens it generated are
/// counted and settled all the same; so is an answer whose body was never asked for (the
/// client left before its head was written).
final class StreamRelay: Sendable {
    typealias Finished = @Sendable (GatewayUsage.StreamScanner, _ abandoned: Bool) async -> Void

    /// The upstream's body, until the writer or the drain of an unwritten answer takes it.
    private let upstream: Mutex<HTTPClientResponse.Body?>
    private let scanner: GatewayUsage.StreamScanner
    private let abandonedTimeout: Duration
    private let finished: Finished

    /// `finished` runs once the upstream ended (or was given up on), with the scanner that
    /// read it and whether the client had left.
    init(upstream: HTTPClientResponse.Body, scanner: GatewayUsage.StreamScanner, abandonedTimeout: Duration, finished: @escaping Finished) {
        self.upstream = Mutex(upstream)
        self.scanner = scanner
        self.abandonedTimeout = abandonedTimeout
        self.finished = finished
    }

    deinit {
        guard let body = upstream.withLock({ $0.take() }) else { return }
        StreamRelay.drain(body.makeAsyncIterator(), scanner: scanner, timeout: abandonedTimeout, finished: finished)
    }

    /// Writes the relayed bytes to the client as they come.
    func write(to writer: inout any ResponseBodyWriter) async throws {
        guard let body = upstream.withLock({ $0.take() }) else { return }
        var iterator = body.makeAsyncIterator()
        var scanner = scanner
        while true {
            let buffer: ByteBuffer?
            do {
                buffer = try await iterator.next()
            } catch {
                break  // Cut, or the server stopping: what was read is what is counted.
            }
            guard let buffer else { break }
            let passed = scanner.feed(Array(buffer: buffer))
            guard !passed.isEmpty else { continue }
            do {
                try await writer.write(ByteBuffer(bytes: passed))
            } catch {
                StreamRelay.drain(iterator, scanner: scanner, timeout: abandonedTimeout, finished: finished)
                throw error
            }
        }
        let rest = scanner.finish()
        do {
            if !rest.isEmpty { try await writer.write(ByteBuffer(bytes: rest)) }
            try await writer.finish(nil)
        } catch {
            await finished(scanner, true)
            throw error
        }
        await finished(scanner, false)
    }

    /// Reads the rest of an upstream nobody is listening to, to count its tokens; given up
    /// after `timeout`.
    private static func drain(_ iterator: sending HTTPClientResponse.Body.AsyncIterator, scanner: GatewayUsage.StreamScanner,
                              timeout: Duration, finished: @escaping Finished) {
        let reader = Task {
            var iterator = iterator
            var scanner = scanner
            while let buffer = try? await iterator.next() {
                _ = scanner.feed(Array(buffer: buffer))
            }
            _ = scanner.finish()
            return scanner
        }
        Task {
            let timer = Task {
                try await Task.sleep(for: timeout)
                reader.cancel()
            }
            let scanner = await reader.value
            timer.cancel()
            await finished(scanner, true)
        }
    }
}
