import ArgumentParser
import Logging

/// Sets up swift-log once, writing to standard error.
enum LogSetup {
    nonisolated(unsafe) private static var done = false

    static func bootstrap(level: String) throws -> Logger.Level {
        guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
            throw ValidationError("--log-level '\(level)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        if !done {
            done = true
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = parsed
                return h
            }
        }
        return parsed
    }

    static func logger(_ label: String, level: String) throws -> Logger {
        let parsed = try bootstrap(level: level)
        var logger = Logger(label: label)
        logger.logLevel = parsed
        return logger
    }
}
