import CSystemd
import Foundation
import Logging

/// Logs to the systemd journal with structured fields (`sd_journal_sendv`): `MESSAGE`,
/// `PRIORITY`, `SYSLOG_IDENTIFIER`, the source location, and each metadata key as an upper-case
/// field (`collector` → `COLLECTOR`), so `journalctl COLLECTOR=nvidia` finds a collector's lines.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let identifier: String

    public init(identifier: String) {
        self.identifier = identifier
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(JournalLogHandler.priority(of: event.level))",
            "SYSLOG_IDENTIFIER=\(identifier)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields.append("\(JournalLogHandler.fieldName(key))=\(value)")
        }
        JournalLogHandler.send(fields)
    }

    /// syslog priorities: 2 critical, 3 error, 4 warning, 5 notice, 6 info, 7 debug.
    static func priority(of level: Logger.Level) -> Int {
        switch level {
        case .critical: 2
        case .error: 3
        case .warning: 4
        case .notice: 5
        case .info: 6
        case .debug, .trace: 7
        }
    }

    /// Journal field names are upper-case letters, digits and underscores, not starting with one.
    static func fieldName(_ key: String) -> String {
        let cleaned = String(key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }).drop { $0 == "_" || $0.isNumber }
        return cleaned.isEmpty ? "METADATA" : String(cleaned)
    }

    private static func send(_ fields: [String]) {
        // C copies that stay put for the call; freed after it.
        let strings = fields.map { strdup($0)! }
        defer { strings.forEach { free($0) } }
        var vectors = strings.map { iovec(iov_base: UnsafeMutableRawPointer($0), iov_len: strlen($0)) }
        sd_journal_sendv(&vectors, Int32(vectors.count))
    }
}

/// Sets up logging for a daemon: the journal under systemd (`JOURNAL_STREAM` set), else stderr.
public enum LogSetup {
    public static func bootstrap(identifier: String, level: Logger.Level) {
        let toJournal = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = toJournal ? JournalLogHandler(identifier: identifier) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
