import Foundation
import Testing
import TokenWattTestSupport

/// The folders of the daemons' libraries depend one way: each only on the folders its module's
/// architecture comment lists below it (the comment at the top of `Aggregator.swift`,
/// `Agent.swift` and the sender's `Collector.swift`, read here, so the order is written once).
struct LayoutTests {
    static let modules = [("TokenWattAggregator", "Aggregator.swift"), ("TokenWattAgent", "Agent.swift"), ("TokenWattSender", "Collector.swift")]

    /// The folders of an architecture comment, top first: `//   Name  what it holds`.
    static func layers(_ header: String) -> [String] {
        header.split(separator: "\n").prefix { $0.hasPrefix("//") }
            .compactMap { $0.wholeMatch(of: #///   ([A-Z][A-Za-z]+)\s+\S.*/#).map { String($0.output.1) } }
    }

    /// Every folder's references to types declared in another folder of the module.
    static func references(module: URL) throws -> [(from: String, to: String, type: String, file: String)] {
        let files = FileManager.default.enumerator(atPath: module.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        func folder(_ file: String) -> String { file.contains("/") ? String(file.split(separator: "/")[0]) : "." }
        var texts: [String: String] = [:]
        var declaredIn: [String: String] = [:]
        for file in files {
            let text = try String(contentsOf: module.appendingPathComponent(file), encoding: .utf8)
            // Comments and string literals name types without depending on them.
            texts[file] = text.replacing(#/\/\/[^\n]*/#, with: "").replacing(#/"(?:[^"\\\n]|\\.)*"/#, with: "\"\"")
            for match in text.matches(of: #/(?m)^(?:(?:public|private|fileprivate|final|package|internal)\s+)*(?:struct|class|enum|protocol|actor|typealias)\s+([A-Z]\w*)/#) {
                declaredIn[String(match.output.1)] = declaredIn[String(match.output.1)] ?? folder(file)
            }
        }
        var found: [(String, String, String, String)] = []
        for (file, text) in texts {
            let names = Set(text.matches(of: #/\b[A-Z]\w*/#).map { String($0.output) })
            for name in names {
                if let other = declaredIn[name], other != folder(file) { found.append((folder(file), other, name, file)) }
            }
        }
        return found
    }

    @Test(arguments: LayoutTests.modules)
    func foldersDependOnlyOnTheFoldersListedBelowThem(_ module: String, _ assembly: String) throws {
        let directory = DeployTests.root.appendingPathComponent("Sources/\(module)")
        let layers = LayoutTests.layers(try String(contentsOf: directory.appendingPathComponent(assembly), encoding: .utf8))
        let folders = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasSuffix(".swift") && !$0.contains(".") }
        #expect(Set(layers) == Set(folders), "the architecture comment lists \(layers.sorted()), the module has \(folders.sorted())")
        let references = try LayoutTests.references(module: directory)
        #expect(references.count > 3, "the reading of cross-folder references found only \(references.count)")
        for reference in references where reference.from != "." && reference.to != "." {
            guard let from = layers.firstIndex(of: reference.from), let to = layers.firstIndex(of: reference.to) else { continue }
            #expect(to > from, "\(reference.file) (\(reference.from)) uses \(reference.type) of \(reference.to), which the architecture puts above it")
        }
    }

    /// Modules below the daemons stay below them: the CLI checks configs and reads the API
    /// without linking either daemon or the store, and the configuration and the API contracts
    /// depend on no component they configure or describe. Both the package's dependency lists and
    /// the files' imports are checked (a module built for another target can be imported even
    /// when it is not declared).
    @Test(arguments: [("tokenwatt", "executableTarget"), ("TokenWattConfiguration", "target"), ("TokenWattAPI", "target")])
    func lowerModulesLinkNoDaemon(_ module: String, _ kind: String) throws {
        let daemons = ["TokenWattAgent", "TokenWattAggregator", "TokenWattStore"]
        let package = try String(contentsOf: DeployTests.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let declaration = try #require(package.firstMatch(of: try Regex(#"\.\#(kind)\(name: "\#(module)", dependencies: \[([^\]]*)\]"#)))
        let dependencies = try #require(declaration.output[1].substring)
        #expect(dependencies.contains("TokenWattCore"))
        for daemon in daemons { #expect(!dependencies.contains("\"\(daemon)\""), "Package.swift: \(module) depends on \(daemon)") }
        let directory = DeployTests.root.appendingPathComponent("Sources/\(module)")
        let files = FileManager.default.enumerator(atPath: directory.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        #expect(!files.isEmpty)
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            for daemon in daemons { #expect(!text.contains("import \(daemon)\n"), "\(module)/\(file) imports \(daemon)") }
        }
    }
}
