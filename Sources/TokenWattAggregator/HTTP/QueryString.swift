/// Parameters of a query string or an `application/x-www-form-urlencoded` body, names and values
/// percent-decoded (`match%5B%5D` is `match[]`, as Grafana and AsyncHTTPClient send it) and `+`
/// read as a space.
struct QueryString {
    let parameters: [(name: String, value: String)]

    init(_ text: String?) {
        parameters = (text ?? "").split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (QueryString.decode(parts[0]), parts.count > 1 ? QueryString.decode(parts[1]) : "")
        }
    }

    subscript(name: String) -> String? {
        parameters.first { $0.name == name }?.value
    }

    func all(_ name: String) -> [String] {
        parameters.filter { $0.name == name }.map(\.value)
    }

    static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                if let high = iterator.next(), let low = iterator.next(), let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) {
                    bytes.append(value)
                } else {
                    bytes.append(byte)
                }
            default:
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
