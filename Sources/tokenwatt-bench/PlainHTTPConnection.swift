import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client on one keep-alive TCP connection, with blocking calls: the ingest
/// benchmark's load generator. On a 2-core machine the load generator's CPU is taken from the
/// receiver it measures, and AsyncHTTPClient spent more CPU per push than our receiver did; a
/// thread per simulated agent writing a request and reading the answer costs a fraction of it.
/// It speaks just what a push needs: a POST with Content-Length, an answer with Content-Length
/// or none (204).
final class PlainHTTPConnection {
    private let host: String
    private let port: UInt16
    private let path: String
    private var socket: Int32 = -1
    private var buffer: [UInt8] = []

    init(url: String) throws {
        guard let components = URLComponents(string: url), components.scheme == "http", let host = components.host else {
            throw ValidationError("\(url): the ingest benchmark speaks plain http://host:port/path")
        }
        self.host = host
        port = UInt16(components.port ?? 80)
        path = components.path.isEmpty ? "/" : components.path
    }

    deinit {
        if socket >= 0 { close(socket) }
    }

    /// Sends a POST and returns the answer's status and body.
    func post(_ body: [UInt8], headers: [(String, String)]) throws -> (status: Int, body: String) {
        if socket < 0 { try connect() }
        var head = "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        do {
            try send(Array(head.utf8) + body)
            return try readAnswer()
        } catch {
            close(socket)
            socket = -1
            throw error
        }
    }

    private func connect() throws {
        socket = try PlainHTTPConnection.connect(host: host, port: port)
        var one: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        buffer = []
    }

    /// A TCP connection to an IPv4 `host`; `blocking: false` returns while it is being set up.
    static func connect(host: String, port: UInt16, blocking: Bool = true) throws -> Int32 {
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | (blocking ? 0 : Int32(SOCK_NONBLOCK.rawValue)), 0)
        guard descriptor >= 0 else { throw ValidationError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else {
            close(descriptor)
            throw ValidationError("\(host): the benchmark needs an IPv4 address")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 || (!blocking && errno == EINPROGRESS) else {
            close(descriptor)
            throw ValidationError("connect to \(host):\(port): \(String(cString: strerror(errno)))")
        }
        return descriptor
    }

    private func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw ValidationError("send: \(String(cString: strerror(errno)))") }
            sent += written
        }
    }

    /// Reads more bytes into the buffer; fails when the peer closed.
    private func receive() throws {
        var chunk = [UInt8](repeating: 0, count: 16_384)
        let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw ValidationError("the receiver closed the connection") }
        buffer += chunk[..<count]
    }

    private func readAnswer() throws -> (status: Int, body: String) {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while headEnd == nil {
            headEnd = buffer.indices.dropLast(3).first { buffer[$0..<$0 + 4].elementsEqual(separator) }
            if headEnd == nil { try receive() }
        }
        let lines = String(decoding: buffer[..<headEnd!], as: UTF8.self).split(separator: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw ValidationError("not an HTTP answer: \(lines.first ?? "")") }
        var length = 0
        var closes = false
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard parts.count == 2 else { continue }
            if parts[0] == "content-length" { length = Int(parts[1]) ?? 0 }
            if parts[0] == "transfer-encoding" { throw ValidationError("chunked answers are not spoken here") }
            if parts[0] == "connection" && parts[1] == "close" { closes = true }
        }
        let bodyStart = headEnd! + 4
        while buffer.count < bodyStart + length { try receive() }
        let body = String(decoding: buffer[bodyStart..<bodyStart + length], as: UTF8.self)
        buffer.removeFirst(bodyStart + length)
        if closes {
            close(socket)
            socket = -1
        }
        return (status, body)
    }
}
