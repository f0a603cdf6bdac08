/// A `Content-Type` read as RFC 9110 says: the media type before any `;`, case-insensitive and
/// without spaces, and its parameters after it.
public enum MediaType {
    /// `application/json` of `Application/JSON; charset=utf-8`; nil without a header.
    public static func essence(of contentType: String?) -> String? {
        contentType?.split(separator: ";", omittingEmptySubsequences: false).first?.trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// The value of parameter `name` (`proto` of `application/x-protobuf;proto=...`), as written.
    public static func parameter(_ name: String, in contentType: String?) -> String? {
        contentType?.split(separator: ";").dropFirst()
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.lowercased().hasPrefix(name + "=") }
            .map { String($0.dropFirst(name.count + 1)) }
    }
}
