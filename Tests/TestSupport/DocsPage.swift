import Foundation

/// A page of `docs/` as the docs-consistency tests read it: its tables, each under the `## `
/// heading it sits in, a row as its cells.
public struct DocsPage {
    public struct Table {
        public var heading: String
        public var columns: [String]
        public var rows: [[String]]
    }

    public let text: String
    public let tables: [Table]

    /// The repository's root, from this file's place in it.
    public static var root: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    public init(_ name: String) throws {
        text = try String(contentsOf: DocsPage.root.appendingPathComponent("docs/\(name)"), encoding: .utf8)
        var tables: [Table] = [], heading = ""
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
        while let line = lines.popFirst() {
            if line.hasPrefix("## ") { heading = String(line.dropFirst(3)) }
            guard line.hasPrefix("|"), lines.first?.hasPrefix("|---") == true else { continue }
            lines.removeFirst()
            var table = Table(heading: heading, columns: DocsPage.cells(line), rows: [])
            while let row = lines.first, row.hasPrefix("|") {
                table.rows.append(DocsPage.cells(row))
                lines.removeFirst()
            }
            tables.append(table)
        }
        self.tables = tables
    }

    /// A row's cells, `\|` inside a cell kept as `|`.
    static func cells(_ line: Substring) -> [String] {
        line.replacingOccurrences(of: "\\|", with: "\u{1}").split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
            .map { $0.replacingOccurrences(of: "\u{1}", with: "|").trimmingCharacters(in: .whitespaces) }
    }

    /// The code spans of a cell: `` `GET /metrics`, `/costs` `` gives both.
    public static func codeSpans(_ cell: String) -> [String] {
        cell.matches(of: #/`([^`]+)`/#).map { String($0.output.1) }
    }

    /// The routes of the tables under headings that start with `heading`: `METHOD /path` from
    /// each code span of a first cell, the query left out, a bare `/path` taking the method
    /// before it.
    public func routes(under heading: String) -> Set<String> {
        var routes: Set<String> = []
        for table in tables where table.heading.hasPrefix(heading) {
            for row in table.rows {
                var method = "GET"
                for span in DocsPage.codeSpans(row.first ?? "") {
                    let words = span.split(separator: " ")
                    if words.count == 2 { method = String(words[0]) }
                    guard let path = words.last.map(String.init), path.hasPrefix("/") else { continue }
                    routes.insert("\(method) " + String(path.prefix { $0 != "?" && $0 != "[" }))
                }
            }
        }
        return routes
    }
}
