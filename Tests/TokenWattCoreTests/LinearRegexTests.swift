import Foundation
import Testing
@testable import TokenWattCore

@Suite struct LinearRegexTests {
    /// Pattern, text, whether the whole text matches; checked against NSRegularExpression too
    /// (anchored, `.` matching newlines, as Prometheus wraps patterns) where ICU takes the pattern.
    static let table: [(String, String, Bool)] = [
        ("abc", "abc", true), ("abc", "abcd", false), ("abc", "xabc", false), ("", "", true), ("", "a", false),
        ("a.c", "abc", true), ("a.c", "a\nc", true), ("a.c", "ac", false),
        ("a*", "", true), ("a*", "aaaa", true), ("a+", "", false), ("a+b", "aaab", true), ("ab?c", "ac", true), ("ab?c", "abbc", false),
        ("a{3}", "aaa", true), ("a{3}", "aa", false), ("a{2,}", "aaaaa", true), ("a{2,3}", "aaaa", false), ("a{0,1}b", "b", true),
        ("x{", "x{", true), ("x{a}", "x{a}", true), ("x{1,2", "x{1,2", true),
        ("a|b|c", "b", true), ("a|b|c", "d", false), ("(ab|cd)+", "abcdab", true), ("(ab|cd)+", "abc", false), ("a|", "", true),
        ("(?:foo|bar)baz", "barbaz", true), ("(?P<name>x+)y", "xxy", true), ("(?<name>x+)y", "xxy", true),
        ("[a-c]+", "abcabc", true), ("[a-c]+", "abcd", false), ("[^a-c]", "d", true), ("[^a-c]", "b", false), ("[]a]", "]", true),
        ("[a-]", "-", true), ("[\\d.]+", "3.14", true), ("[[:alpha:]]+", "Abc", true), ("[[:^digit:]]", "x", true), ("[[:^digit:]]", "5", false),
        ("\\d+", "123", true), ("\\D", "1", false), ("\\w+", "vllm_0", true), ("\\W", "_", false), ("\\s", " ", true), ("\\S", "\t", false),
        ("a\\.b", "a.b", true), ("a\\.b", "axb", false), ("\\(\\)", "()", true), ("\\x41\\x{42}", "AB", true), ("\\t", "\t", true),
        ("(?i)abc", "AbC", true), ("(?i:a)b", "Ab", true), ("(?i:a)b", "AB", false), ("(?i)[a-c]+", "ABC", true), ("a(?i)b", "aB", true),
        ("(?-s).", "\n", false), ("(?s).", "\n", true),
        ("^abc$", "abc", true), ("a^b", "ab", false), ("a$b", "ab", false),
        ("a*?b", "aab", true), ("a+?", "aa", true), ("a??", "", true),
        ("meta-llama/.*", "meta-llama/Llama-3.1-8B-Instruct", true), ("gpt-4o|claude-.*", "claude-sonnet-4", true),
        ("ü+", "üü", true), ("(?i)ü", "Ü", true), (".", "é", true), ("..", "é", false), ("[α-ω]+", "αβγ", true),
        ("(a*)*", "aaa", true), ("(a*)+b", "b", true), ("(a|b)*abb", "ababb", true), ("(|a)+", "aa", true),
        ("(.*)(.*)(.*)(.*)(.*)(.*)(.*)(.*)Q", "tokenwatt_gpu_power_watts", false),
    ]

    @Test(arguments: table) func matchesTheWholeText(pattern: String, text: String, expected: Bool) throws {
        let regex = try LinearRegex(pattern)
        #expect(regex.matches(text) == expected, "\(pattern) on \(text)")
        if let reference = try? NSRegularExpression(pattern: "^(?s:\(pattern))$") {
            let range = NSRange(text.startIndex..<text.endIndex, in: text)
            #expect((reference.firstMatch(in: text, range: range) != nil) == expected, "NSRegularExpression disagrees on \(pattern)")
        }
    }

    /// Patterns refused, with a reason naming the problem.
    static let refused: [(String, String)] = [
        ("(", "missing )"), ("a)", "unexpected )"), ("[a", "missing ]"), ("*a", "missing argument"), ("a**", "nested repetition"),
        ("{2}", "missing argument"), ("a{1001}", "repeat count"), ("a{3,2}", "repeat count"), ("[z-a]", "range"), ("\\1", "unsupported escape"),
        ("\\b", "unsupported escape"), ("\\pL", "unsupported escape"), ("(?=a)", "unsupported flag"), ("(?m)a", "unsupported flag"), ("a\\", "trailing"),
        ("((((a{100}){100}){100}){100})", "too large"), (String(repeating: "a", count: 5000), "over the limit"),
        (String(repeating: "(", count: 300) + String(repeating: ")", count: 300), "nested deeper"),
    ]

    @Test(arguments: refused) func refusesWithAReason(pattern: String, reason: String) {
        #expect {
            _ = try LinearRegex(pattern)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    /// Patterns that take a backtracking engine exponential or polynomial time finish at once.
    @Test func pathologicalPatternsTakeLinearTime() throws {
        let cases: [(String, String)] = [
            ("(a+)+b", String(repeating: "a", count: 10_000)),
            ("(.*)(.*)(.*)(.*)(.*)(.*)(.*)(.*)Q", String(repeating: "x", count: 10_000)),
            ("(a|a)*c", String(repeating: "a", count: 10_000)),
            ("(x+x+)+y", String(repeating: "x", count: 10_000)),
        ]
        let clock = ContinuousClock()
        for (pattern, text) in cases {
            let regex = try LinearRegex(pattern)
            let elapsed = clock.measure { #expect(!regex.matches(text)) }
            #expect(elapsed < .seconds(2), "\(pattern) took \(elapsed)")
        }
    }
}

@Suite struct TimeBoundsTests {
    /// Seconds from outside, and the milliseconds taken (nil: refused).
    static let table: [(Double, Int64?)] = [
        (0, 0), (1_700_000_000.5, 1_700_000_000_500), (-1, -1000), (253_402_300_799.999, 253_402_300_799_999),
        (253_402_300_800, nil), (-62_135_596_801, nil), (1e19, nil), (1e300, nil), (-1e17, nil), (.infinity, nil), (.nan, nil),
        (9_223_372_036_854_775, nil),
    ]

    @Test(arguments: table) func timesOutsideTheYears1To9999AreRefused(seconds: Double, milliseconds: Int64?) {
        #expect(TimeBounds.milliseconds(fromSeconds: seconds) == milliseconds)
    }

    @Test func durationsAreBoundedBeforeTheyCanOverflow() {
        #expect(TimeBounds.durationMilliseconds(fromSeconds: 1e300) == nil)
        #expect(TimeBounds.durationMilliseconds(fromSeconds: -1) == nil)
        #expect(TimeBounds.durationMilliseconds(fromSeconds: 15) == 15_000)
        #expect(ConfigDuration.milliseconds("106751990000d") == nil)
        #expect(ConfigDuration.milliseconds("10000y") == 315_360_000_000_000)
        #expect(ConfigDuration.milliseconds("10000y10000y") == nil)
        // Any two checked values add and subtract without overflow.
        _ = TimeBounds.latestMs + TimeBounds.longestMs
        _ = TimeBounds.earliestMs - TimeBounds.longestMs
    }
}
