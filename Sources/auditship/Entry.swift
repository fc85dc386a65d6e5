import ArgumentParser
import AuditshipCLI

/// The executable's entry point: ArgumentParser's async main on the root command.
@main
extension Auditship {}
