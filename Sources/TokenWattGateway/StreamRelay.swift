import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Relays an upstream's event stream to the client while reading its usage. The client's own
/// task reads the upstream and writes each piece on (no hop between tasks per event). A
/// client that leaves mid-stream stops getting bytes, but the upstream is read on to its end
/// by a task of its own (within `abandonedTimeout`), so that the tokens it generated are
/// counted and settled all the same; so is an answer whose body was never asked for (the
/// client left before its head was written). A capped stream whose output passes what its
/// `allowance` can draw from the slices ends there (`ending`), and the upstream is let go.
/// `closing` writes the gateway's own last events (what the answer cost, OpenAI's `[DONE]`
/// kept back for it) and the trailers.
final class StreamRelay: Sendable {
    typealias Finished = @Sendable (GatewayUsage.StreamScanner, _ abandoned: Bool, _ cut: Bool) async -> Void
    typealias Closing = @Sendable (GatewayUsage.StreamScanner, _ cut: Bool) async -> (bytes: [UInt8], trailers: HTTPFields?)

    /// The upstream's body, until the writer or the drain of an unwritten answer takes it.
    private let upstream: Mutex<HTTPClientResponse.Body?>
    private let scanner: GatewayUsage.StreamScanner
    private let allowance: StreamAllowance?
    private let ending: @Sendable (GatewayUsage.StreamScanner) -> [UInt8]
    private let closing: Closing
    private let abandonedTimeout: Duration
    private let finished: Finished

    /// `finished` runs once the upstream ended (or was given up on, or cut), with the scanner
    /// that read it, whether the client had left and whether the stream was cut.
    init(upstream: HTTPClientResponse.Body, scanner: GatewayUsage.StreamScanner, allowance: StreamAllowance?,
         ending: @escaping @Sendable (GatewayUsage.StreamScanner) -> [UInt8], closing: @escaping Closing, abandonedTimeout: Duration,
         finished: @escaping Finished) {
        self.upstream = Mutex(upstream)
        self.scanner = scanner
        self.allowance = allowance
        self.ending = ending
        self.closing = closing
        self.abandonedTimeout = abandonedTimeout
        self.finished = finished
    }

    deinit {
        guard let body = upstream.withLock({ $0.take() }) else { return }
        StreamRelay.drain(body.makeAsyncIterator(), scanner: scanner, allowance: allowance, timeout: abandonedTimeout, finished: finished)
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
            if let allowance, !(await allowance.allows(scanner.estimatedOutputTokens)) {
                // No room for more: it ends here as the API ends at its limit.
                do {
                    let close = await closing(scanner, true)
                    try await writer.write(ByteBuffer(bytes: ending(scanner) + close.bytes))
                    try await writer.finish(close.trailers)
                } catch {
                    await finished(scanner, true, true)
                    throw error
                }
                await finished(scanner, false, true)
                return
            }
            guard !passed.isEmpty else { continue }
            do {
                try await writer.write(ByteBuffer(bytes: passed))
            } catch {
                StreamRelay.drain(iterator, scanner: scanner, allowance: allowance, timeout: abandonedTimeout, finished: finished)
                throw error
            }
        }
        let rest = scanner.finish()
        do {
            let close = await closing(scanner, false)
            if !rest.isEmpty || !close.bytes.isEmpty { try await writer.write(ByteBuffer(bytes: rest + close.bytes)) }
            try await writer.finish(close.trailers)
        } catch {
            await finished(scanner, true, false)
            throw error
        }
        await finished(scanner, false, false)
    }

    /// Reads the rest of an upstream nobody is listening to, to count its tokens; given up
    /// after `timeout`, or let go where its allowance ends.
    private static func drain(_ iterator: sending HTTPClientResponse.Body.AsyncIterator, scanner: GatewayUsage.StreamScanner, allowance: StreamAllowance?,
                              timeout: Duration, finished: @escaping Finished) {
        let reader = Task {
            var iterator = iterator
            var scanner = scanner
            while let buffer = try? await iterator.next() {
                _ = scanner.feed(Array(buffer: buffer))
                if let allowance, !(await allowance.allows(scanner.estimatedOutputTokens)) { return (scanner, true) }
            }
            _ = scanner.finish()
            return (scanner, false)
        }
        Task {
            let timer = Task {
                try await Task.sleep(for: timeout)
                reader.cancel()
            }
            let (scanner, cut) = await reader.value
            timer.cancel()
            await finished(scanner, true, cut)
        }
    }
}
