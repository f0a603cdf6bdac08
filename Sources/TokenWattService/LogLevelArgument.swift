import ArgumentParser
import Logging

/// `--log-level trace|debug|info|notice|warning|error|critical` on both daemons.
extension Logger.Level: @retroactive ExpressibleByArgument {}
