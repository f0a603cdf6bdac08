import ArgumentParser
import Foundation
import HummingbirdBcrypt

/// `tokenwatt hash-password`: a bcrypt hash of a password read from standard input, for
/// `web.basic_auth_users` (the same hashes Prometheus's web config and htpasswd -B take).
struct HashPasswordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-password",
        abstract: "Print a bcrypt hash of the password on standard input, for web.basic_auth_users.",
        discussion: "Example: printf '%s' \"$PASSWORD\" | tokenwatt hash-password. A trailing newline is not part of the password.")

    @Option(help: "The bcrypt cost (log2 of its rounds), 10 to 16.")
    var cost: Int = 12

    func run() throws {
        guard (10...16).contains(cost) else { throw ValidationError("--cost must be from 10 to 16, got \(cost)") }
        let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        let password = input.hasSuffix("\r\n") ? String(input.dropLast(2)) : input.hasSuffix("\n") ? String(input.dropLast()) : input
        guard !password.isEmpty else { throw ValidationError("no password on standard input") }
        print(Bcrypt.hash(password, cost: UInt8(cost)))
    }
}
