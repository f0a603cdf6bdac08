import ArgumentParser
import Foundation

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
