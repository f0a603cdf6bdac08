import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What an attacker sharing the fleet's address holds against a server while it runs
/// (`fleet --flood`): sockets of which half send nothing and half drip a request head (over TLS,
/// a handshake record) one byte every two seconds, each opened again a while after the server
/// closes it. On its own thread, with non-blocking sockets, so a full accept queue stalls
/// nothing.
final class Flood: Sendable {
    private struct Hold {
        var socket: Int32 = -1
        var slow: Bool
        var nextDrip: ContinuousClock.Instant
        var closedAt: ContinuousClock.Instant?
    }

    private let host: String
    private let port: UInt16
    private let count: Int
    private let tls: Bool
    private let reopenAfter: Duration
    private let state = Mutex<(closedByServer: Int, notOpened: Int, stop: Bool)>((0, 0, false))
    /// Resumed by the thread once it has closed its sockets.
    private let finished = Mutex<(done: Bool, waiting: CheckedContinuation<Void, Never>?)>((false, nil))

    init(host: String, port: UInt16, sockets: Int, tls: Bool, reopenAfter: Duration) {
        self.host = host
        self.port = port
        count = sockets
        self.tls = tls
        self.reopenAfter = reopenAfter
    }

    /// Sockets the server has closed so far.
    var closedByServer: Int { state.withLock { $0.closedByServer } }
    /// Sockets that could not be opened (each is tried again after `reopenAfter`).
    var notOpened: Int { state.withLock { $0.notOpened } }

    func start() {
        Thread { self.run() }.start()
    }

    /// Stops the thread, which closes its sockets, and waits for it.
    func stop() async {
        state.withLock { $0.stop = true }
        await withCheckedContinuation { continuation in
            let done = finished.withLock { finished in
                if !finished.done { finished.waiting = continuation }
                return finished.done
            }
            if done { continuation.resume() }
        }
    }

    private func run() {
        let clock = ContinuousClock()
        let start = clock.now
        // A head that never ends; over TLS, a handshake record that says 512 bytes follow.
        let opening: [UInt8] = tls ? [0x16, 0x03, 0x01, 0x02, 0x00] : Array("POST /api/v1/write HTTP/1.1\r\nHost: flood\r\n".utf8)
        var holds = (0..<count).map { index in
            Hold(slow: index % 2 == 1, nextDrip: start + .milliseconds(2_000 * index / max(1, count)))
        }
        for index in holds.indices {
            holds[index].socket = open(sending: holds[index].slow ? opening : [])
            if holds[index].socket < 0 { holds[index].closedAt = start }
        }
        while !state.withLock({ $0.stop }) {
            let now = clock.now
            for index in holds.indices {
                if holds[index].socket < 0 {
                    if let closedAt = holds[index].closedAt, closedAt.duration(to: now) >= reopenAfter {
                        holds[index].socket = open(sending: holds[index].slow ? opening : [])
                        holds[index].closedAt = holds[index].socket < 0 ? now : nil
                    }
                    continue
                }
                if isClosed(holds[index].socket) {
                    close(holds[index].socket)
                    holds[index].socket = -1
                    holds[index].closedAt = now
                    state.withLock { $0.closedByServer += 1 }
                } else if holds[index].slow, now >= holds[index].nextDrip {
                    var byte: UInt8 = tls ? 0x01 : UInt8(ascii: "x")
                    _ = Glibc.send(holds[index].socket, &byte, 1, Int32(MSG_NOSIGNAL))
                    holds[index].nextDrip = now + .seconds(2)
                }
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        for hold in holds where hold.socket >= 0 { close(hold.socket) }
        finished.withLock { finished in
            finished.done = true
            return finished.waiting
        }?.resume()
    }

    /// A non-blocking connection, its first bytes sent once it is up (at once on loopback); -1,
    /// counted, when no socket could be opened (the process's descriptors run out first).
    private func open(sending bytes: [UInt8]) -> Int32 {
        let socket: Int32
        do {
            socket = try PlainHTTPConnection.connect(host: host, port: port, blocking: false)
        } catch {
            state.withLock { $0.notOpened += 1 }
            return -1
        }
        if !bytes.isEmpty {
            var pollfd = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
            if poll(&pollfd, 1, 100) == 1 { _ = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        }
        return socket
    }

    /// Whether the server closed (or reset) the connection.
    private func isClosed(_ socket: Int32) -> Bool {
        var byte: UInt8 = 0
        let count = recv(socket, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
        return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINPROGRESS && errno != ENOTCONN)
    }
}
