import CSnappy

/// Snappy block format (not the framed format) through the system libsnappy.
public enum Snappy {
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        var length = snappy_max_compressed_length(input.count)
        var output = [UInt8](repeating: 0, count: length)
        let status = withCharBuffers(input, &output) { snappy_compress($0.baseAddress, $0.count, $1.baseAddress, &length) }
        precondition(status == SNAPPY_OK, "snappy_compress cannot fail with a buffer of snappy_max_compressed_length")
        output.removeSubrange(length...)
        return output
    }

    /// The length the block says it decompresses to, read from its header without decompressing.
    public static func uncompressedLength(_ input: [UInt8]) throws(CoreError) -> Int {
        var length = 0
        let status = input.withUnsafeBufferPointer { source in
            source.withMemoryRebound(to: CChar.self) { snappy_uncompressed_length($0.baseAddress, $0.count, &length) }
        }
        guard status == SNAPPY_OK else { throw .snappy("invalid block header") }
        return length
    }

    /// Decompresses a block, refusing one that claims more than `limit` bytes.
    public static func decompress(_ input: [UInt8], limit: Int = .max) throws(CoreError) -> [UInt8] {
        var length = try uncompressedLength(input)
        guard length <= limit else { throw .tooLarge("snappy block decompresses to \(length) bytes, over the limit of \(limit)") }
        var output = [UInt8](repeating: 0, count: length)
        let status = withCharBuffers(input, &output) { snappy_uncompress($0.baseAddress, $0.count, $1.baseAddress, &length) }
        guard status == SNAPPY_OK else { throw .snappy("corrupt block") }
        return output
    }

    /// Lends libsnappy the input and output bytes as the `char` buffers its C API takes.
    private static func withCharBuffers(_ input: [UInt8], _ output: inout [UInt8],
                                        _ body: (UnsafeBufferPointer<CChar>, UnsafeMutableBufferPointer<CChar>) -> snappy_status) -> snappy_status {
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                source.withMemoryRebound(to: CChar.self) { source in
                    target.withMemoryRebound(to: CChar.self) { body(source, $0) }
                }
            }
        }
    }
}
