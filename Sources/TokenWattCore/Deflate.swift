import CZlib

/// Deflate (RFC 1951) through the system zlib: gzip-framed (RFC 1952) for the
/// `Content-Encoding: gzip` of OTLP/HTTP bodies, bare inside the store's packed chunks.
public enum Deflate {
    public enum Framing: Sendable {
        /// gzip's header and CRC-32 around the stream; when inflating, members one after another.
        case gzip
        /// The bare stream: no header, no checksum (the chunk's frame has its own).
        case raw

        /// zlib's window bits: 15 (32 KiB), negative for no framing, + 16 for gzip's.
        var windowBits: Int32 {
            switch self {
            case .gzip: 15 + 16
            case .raw: -15
            }
        }
    }

    /// Inflates a body (gzip members one after another, as `cat a.gz b.gz` makes), stopping as
    /// soon as the output would pass `limit`: a bomb of a few kilobytes that inflates to
    /// gigabytes costs `limit` bytes of memory, never more.
    public static func decompress(_ input: [UInt8], framing: Framing = .gzip, limit: Int) throws(CoreError) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, framing.windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .gzip("zlib cannot start inflating")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var consumed = 0
        var status = Z_OK
        try input.withUnsafeBufferPointer { source throws(CoreError) in
            guard let base = source.baseAddress else { throw .gzip("empty body") }
            while true {
                stream.next_in = UnsafeMutablePointer(mutating: base + consumed)
                stream.avail_in = UInt32(source.count - consumed)
                repeat {
                    let room = min(chunk.count, limit - output.count + 1)
                    status = chunk.withUnsafeMutableBufferPointer { target in
                        stream.next_out = target.baseAddress
                        stream.avail_out = UInt32(room)
                        return inflate(&stream, Z_NO_FLUSH)
                    }
                    output.append(contentsOf: chunk[0..<(room - Int(stream.avail_out))])
                    guard output.count <= limit else { throw .tooLarge("gzip body inflates to more than \(limit) bytes") }
                    guard status == Z_OK || status == Z_STREAM_END || (status == Z_BUF_ERROR && stream.avail_in > 0) else {
                        throw .gzip(status == Z_BUF_ERROR ? "truncated stream" : "corrupt stream (zlib status \(status))")
                    }
                } while status != Z_STREAM_END && stream.avail_in > 0
                consumed = source.count - Int(stream.avail_in)
                guard status == Z_STREAM_END else { throw .gzip("truncated stream") }
                guard consumed < source.count else { return }
                guard framing == .gzip else { throw .gzip("bytes after the stream") }
                guard inflateReset(&stream) == Z_OK else { throw .gzip("zlib cannot start the next member") }
            }
        }
        return output
    }

    /// Deflates `input` into one stream (one gzip member). `runsOnly`: matches only of a byte
    /// with itself (zlib's `Z_RLE`), for input that is mostly small numbers in no repeating
    /// order, where longer matches cost more bits than they save.
    public static func compress(_ input: [UInt8], framing: Framing = .gzip, runsOnly: Bool = false) -> [UInt8] {
        var stream = z_stream()
        let started = deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, framing.windowBits, 8, runsOnly ? Z_RLE : Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(started == Z_OK, "zlib cannot start deflating")
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))))
        let written = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                let status = deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "a buffer of deflateBound holds the whole member")
                return target.count - Int(stream.avail_out)
            }
        }
        output.removeSubrange(written...)
        return output
    }
}
