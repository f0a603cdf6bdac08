import Foundation
import Testing
@testable import TokenWattGateway

/// The walk over a JSON object's top level that the gateway reads requests and answers with.
@Suite struct JSONObjectMembersTests {
    @Test(arguments: [
        // (document, member, its raw value; nil: absent)
        (#"{"model":"m","n":1}"#, "model", #""m""#),
        (#" { "model" : "m" , "n" : -1.5e3 } "#, "n", "-1.5e3"),
        (#"{"a":{"model":"inner"},"model":"outer"}"#, "model", #""outer""#),
        (#"{"a":"}\"{","b":[1,{"c":"]"}],"model":null}"#, "model", "null"),
        (#"{"a":"}\"{","b":[1,{"c":"]"}],"model":null}"#, "b", #"[1,{"c":"]"}]"#),
        (#"{"text":"say \"usage\": {}","usage":{"x":1}}"#, "usage", #"{"x":1}"#),
        (#"{"\u006dodel":"escaped name"}"#, "model", #""escaped name""#),
        (#"{"nested":{"usage":{"x":1}}}"#, "usage", nil),
        ("{}", "model", nil),
        ("{\n\t\"model\":\r\n\"m\"\n}\n", "model", #""m""#),
    ] as [(String, String, String?)])
    func findsTopLevelMembersOnly(document: String, member: String, raw: String?) throws {
        let members = try JSONObjectMembers(Array(document.utf8))
        #expect(members[member].map { String(decoding: $0, as: UTF8.self) } == raw)
    }

    @Test(arguments: [
        ("", JSONObjectMembers.Failure.notAnObject),
        ("[1]", .notAnObject),
        (#""model""#, .notAnObject),
        ("{", .malformed(at: 1)),
        (#"{"a":1"#, .malformed(at: 6)),
        (#"{"a" 1}"#, .malformed(at: 5)),
        (#"{"a":}"#, .malformed(at: 5)),
        (#"{"a":1,}"#, .malformed(at: 7)),
        (#"{"a":"unterminated}"#, .malformed(at: 19)),
        (#"{"a":[1,2}"#, .malformed(at: 10)),
        (#"{"a":1} {"b":2}"#, .malformed(at: 8)),
        (#"{a:1}"#, .malformed(at: 1)),
        (#"{"max_tokens":1,"max_tokens":100000}"#, .duplicate("max_tokens")),
        (#"{"max_tokens":1,"max_\u0074okens":100000}"#, .duplicate("max_tokens")),
    ] as [(String, JSONObjectMembers.Failure)])
    func refusesWhatIsNoObjectOrNamesAMemberTwice(document: String, failure: JSONObjectMembers.Failure) {
        #expect(throws: failure) { try JSONObjectMembers(Array(document.utf8)) }
    }

    /// Random objects, written by JSONSerialization with and without white space: every
    /// top-level member is found, and its raw value decodes to what JSONSerialization read.
    @Test func agreesWithJSONSerializationOnRandomObjects() throws {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<300 {
            let object = JSONObjectMembersTests.randomObject(depth: 0, using: &generator)
            let options: JSONSerialization.WritingOptions = round.isMultiple(of: 2) ? [.prettyPrinted] : []
            let document = try JSONSerialization.data(withJSONObject: object, options: options)
            let text = String(decoding: document, as: UTF8.self)
            let members = try JSONObjectMembers([UInt8](document))
            let expected = try #require(try JSONSerialization.jsonObject(with: document) as? NSDictionary)
            #expect(Set(members.ranges.keys) == Set(expected.allKeys.compactMap { $0 as? String }), "\(text)")
            for case let (name as String, value) in expected {
                let raw = try #require(members[name], "\(text)")
                let decoded = try JSONSerialization.jsonObject(with: Data(raw), options: .fragmentsAllowed)
                #expect((decoded as? NSObject)?.isEqual(value) == true, "member \(name) of \(text)")
            }
        }
    }

    static let alphabet = Array(#"ab"\/{}[]:, é€😀"#) + ["\n", "\t", "\u{1}"]

    static func randomString(using generator: inout some RandomNumberGenerator) -> String {
        String((0..<Int.random(in: 0...8, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
    }

    static func randomValue(depth: Int, using generator: inout some RandomNumberGenerator) -> Any {
        switch Int.random(in: 0...(depth < 3 ? 6 : 4), using: &generator) {
        case 0: return NSNull()
        case 1: return Bool.random(using: &generator)
        case 2: return Int.random(in: -1_000_000...1_000_000, using: &generator)
        case 3: return Double.random(in: -1e6...1e6, using: &generator)
        case 4: return randomString(using: &generator)
        case 5: return (0..<Int.random(in: 0...4, using: &generator)).map { _ in randomValue(depth: depth + 1, using: &generator) }
        default: return randomObject(depth: depth + 1, using: &generator)
        }
    }

    static func randomObject(depth: Int, using generator: inout some RandomNumberGenerator) -> [String: Any] {
        var object: [String: Any] = [:]
        for _ in 0..<Int.random(in: 0...6, using: &generator) {
            object[randomString(using: &generator)] = randomValue(depth: depth, using: &generator)
        }
        return object
    }
}
