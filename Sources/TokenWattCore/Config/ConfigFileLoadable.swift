import Foundation

/// A configuration read from YAML: a type says how to read a document's root, and gets
/// loading from a file and parsing from text, with errors that read `file: key: expected`.
public protocol ConfigFileLoadable {
    static func parse(_ root: ConfigNode, environment: [String: String]) throws(CoreError) -> Self
}

extension ConfigFileLoadable {
    /// Reads and checks a YAML config file; secrets named `<name>_env` come from `environment`.
    public static func load(file path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(CoreError) -> Self {
        try parse(try ConfigNode(contentsOfFile: path), environment: environment)
    }

    public static func parse(yaml: String, file: String, environment: [String: String] = [:]) throws(CoreError) -> Self {
        try parse(try ConfigNode(yaml: yaml, file: file), environment: environment)
    }
}
