import Foundation
import Testing
import TokenWattTestSupport

/// The README and docs/ hold together: every relative link names a file that exists, and an
/// anchor a heading in it (GitHub's slugs); every page opens with whom it is for; the README
/// stays short and sends readers to each page.
@Suite struct DocsLinksTests {
    static let root = DocsPage.root

    /// GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`.
    static func slug(_ heading: String) -> String {
        String(heading.lowercased().compactMap { character -> Character? in
            if character == " " { return "-" }
            return character.isLetter || character.isNumber || character == "-" || character == "_" ? character : nil
        })
    }

    static func pages() throws -> [String] {
        ["README.md"] + (try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.sorted().map { "docs/\($0)" })
    }

    @Test func everyRelativeLinkAndAnchorResolves() throws {
        var links = 0
        for page in try DocsLinksTests.pages() {
            let text = try String(contentsOf: DocsLinksTests.root.appendingPathComponent(page), encoding: .utf8)
            let folder = URL(fileURLWithPath: page).deletingLastPathComponent().relativePath
            for match in text.matches(of: #/\]\(([^)\s]+)\)/#) {
                let target = String(match.output.1)
                guard !target.hasPrefix("http://"), !target.hasPrefix("https://") else { continue }
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let file = parts[0].isEmpty ? page : URL(fileURLWithPath: folder == "." ? parts[0] : "\(folder)/\(parts[0])").standardized.relativePath
                let path = DocsLinksTests.root.appendingPathComponent(file).path
                #expect(FileManager.default.fileExists(atPath: path), "\(page): \(target) names no file")
                if parts.count == 2, file.hasSuffix(".md"), let linked = try? String(contentsOfFile: path, encoding: .utf8) {
                    let anchors = linked.split(separator: "\n").filter { $0.hasPrefix("#") }.map { DocsLinksTests.slug($0.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)) }
                    #expect(anchors.contains(parts[1]), "\(page): \(target): no such heading in \(file)")
                }
                links += 1
            }
        }
        #expect(links > 30)
    }

    @Test func everyPageSaysWhomItIsForAndTheReadmeLinksEach() throws {
        let readme = try String(contentsOf: DocsLinksTests.root.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.split(separator: "\n", omittingEmptySubsequences: false).count <= 250, "the README runs past about 250 lines")
        for page in try DocsLinksTests.pages() where page != "README.md" {
            let text = try String(contentsOf: DocsLinksTests.root.appendingPathComponent(page), encoding: .utf8)
            let opening = text.split(separator: "\n\n").dropFirst().first ?? ""
            #expect(opening.hasPrefix("For "), "\(page) opens with \(opening.prefix(60)), not with whom it is for")
            #expect(readme.contains("](\(page))"), "the README does not send readers to \(page)")
        }
    }
}
