import CZlib

/// gzip (RFC 1952) through the system zlib: the `Content-Encoding: gzip` of OTLP/HTTP bodies.
public enum Gzip {
    /// Inflates a gzip body (members one after another, as `cat a.gz b.gz` makes), stopping as
    /// soon as the output would pass `limit`: a bomb of a few kilobytes that inflates to
    /// gigabytes costs `limit` bytes of memory, never more.
    public static func decompress(_ input: [UInt8], limit: Int) throws(CoreError) -> [UInt8] {
        var stream = z_stream()
        // 15 window bits + 16: gzip framing only, with its header and CRC checked.
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
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
                guard inflateReset(&stream) == Z_OK else { throw .gzip("zlib cannot start the next member") }
            }
        }
        return output
    }

    /// Deflates `input` into one gzip member.
    public static func compress(_ input: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) -> [UInt8] {
        var stream = z_stream()
        let started = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
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
