import ArgumentParser
import Foundation
import Logging
import TokenWattCore

extension AsyncParsableCommand {
    /// Runs the command line as ArgumentParser does, except that an invalid command line exits
    /// with status 2, as every TokenWatt binary documents (ArgumentParser's own is 64).
    public static func mainWithUsageStatus() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            exit(withError: ExitCode(2))
        }
    }
}

/// The exit statuses every daemon documents, in one place: 2 for a config it cannot use, 1 when
/// running failed (0 after a clean shutdown is ArgumentParser's).
public enum DaemonExit {
    /// The configuration `load` makes; a config error (`CoreError`) goes to standard error after
    /// the daemon's name, and the daemon exits 2. Invalid flags (`ValidationError`) pass on to
    /// `mainWithUsageStatus`, which exits 2 with the usage.
    public static func configuration<T>(_ daemon: String, _ load: () throws -> T) throws -> T {
        do {
            return try load()
        } catch let error as CoreError {
            FileHandle.standardError.write(Data("\(daemon): \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// Runs the daemon until it stops; a failure is logged (`stopped`, with its error) and the
    /// daemon exits 1.
    public static func serve(_ logger: Logger, _ run: () async throws -> Void) async throws {
        do {
            try await run()
        } catch {
            logger.critical("stopped", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}
