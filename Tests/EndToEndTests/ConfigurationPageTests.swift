import Foundation
import Testing
import TokenWattTestSupport

/// docs/configuration.md against the code that reads the configs: every key a parser allows
/// (`requireMapping(allowing:)` and the `allowed` sets) is on the page and every key
/// on the page is one a parser allows, and where the code reads a key with a literal default
/// (`node["kind"].string(default: "auto")`), the page's default for it is that value.
@Suite struct ConfigurationPageTests {
    /// The Swift sources that parse the daemons' configs (the built-in price list's reader apart:
    /// its file is ours, not the operator's).
    static func parserSources() throws -> [String] {
        let root = DocsPage.root.appendingPathComponent("Sources")
        var sources: [String] = []
        for folder in ["TokenWattConfiguration", "TokenWattService", "TokenWattCore/Config"] {
            let files = FileManager.default.enumerator(atPath: root.appendingPathComponent(folder).path)!.compactMap { $0 as? String }
            for file in files where file.hasSuffix(".swift") && !file.hasSuffix("BuiltInPrice.swift") {
                sources.append(try String(contentsOf: root.appendingPathComponent("\(folder)/\(file)"), encoding: .utf8))
            }
        }
        return sources
    }

    static func keyLiterals(_ text: Substring) -> [String] {
        text.matches(of: #/"([a-z][a-z0-9_]*)"/#).map { String($0.output.1) }
    }

    /// Every key a parser allows.
    static func codeKeys() throws -> Set<String> {
        var keys: Set<String> = []
        for source in try parserSources() {
            for list in source.matches(of: #/(?:requireMapping\(allowing: |(?:let|var) allowed: Set<String> = )\[([^\]]*)\]/#) {
                keys.formUnion(keyLiterals(list.output.1))
            }
        }
        return keys
    }

    /// The page's keys: each dotted path's components, `[]` left out.
    static func pageRows() throws -> [(path: [String], row: [String])] {
        try DocsPage("configuration.md").tables.filter { $0.columns == ["key", "default", "meaning"] }.flatMap { table in
            table.rows.flatMap { row in
                DocsPage.codeSpans(row[0]).map { span in (span.replacingOccurrences(of: "[]", with: "").split(separator: ".").map(String.init), row) }
            }
        }
    }

    @Test func everyKeyTheParsersAllowIsOnThePageAndNoOther() throws {
        let code = try ConfigurationPageTests.codeKeys()
        let rows = try ConfigurationPageTests.pageRows()
        let page = Set(rows.flatMap(\.path))
        #expect(code.count > 150, "\(code.count) keys found in the parsers")
        #expect(code.subtracting(page).isEmpty, "read by the code, not on docs/configuration.md: \(code.subtracting(page).sorted())")
        #expect(page.subtracting(code).isEmpty, "on docs/configuration.md, read by no parser: \(page.subtracting(code).sorted())")
        for (path, row) in rows {
            #expect(row.count == 3 && !row[1].isEmpty && !row[2].isEmpty, "\(path.joined(separator: ".")): a default and a meaning")
        }
    }

    /// `5m`, `10s`, `1h`, `7d`, `1w` in milliseconds.
    static func milliseconds(_ text: String) -> Int64? {
        guard let match = text.wholeMatch(of: #/([0-9]+)(ms|s|m|h|d|w|y)/#), let count = Int64(match.output.1) else { return nil }
        let unit: Int64 = ["ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000][String(match.output.2)]!
        return count * unit
    }

    @Test func literalDefaultsInTheCodeAreThePages() throws {
        let rows = try ConfigurationPageTests.pageRows()
        var checked = 0
        for source in try ConfigurationPageTests.parserSources() {
            for read in source.matches(of: #/\["([a-z][a-z0-9_]*)"\](\.\w+\(|, )default: (-?[0-9][0-9_.]*|"[^"]*"|true|false)\)/#) {
                let raw = String(read.output.3)
                // A number's digit separators go; a string's underscores stay (worst_case).
                let key = String(read.output.1), literal = raw.hasPrefix("\"") ? raw.replacingOccurrences(of: "\"", with: "") : raw.replacingOccurrences(of: "_", with: "")
                let defaults = rows.filter { $0.path.last == key }.map { DocsPage.codeSpans($0.row[1]) }
                #expect(!defaults.isEmpty, "\(key) is read with a default but is not on the page")
                let matches = defaults.contains { spans in
                    spans.contains { span in
                        span == literal || (Double(span) != nil && Double(span) == Double(literal))
                            || (read.output.2.contains("durationMilliseconds") && ConfigurationPageTests.milliseconds(span) == Int64(literal))
                    }
                }
                #expect(matches, "\(key): the code's default is \(literal), the page says \(defaults)")
                checked += 1
            }
        }
        #expect(checked >= 15)
    }
}
