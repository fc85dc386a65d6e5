import ArgumentParser

/// The `auditship` command.
public struct Auditship: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "auditship",
        abstract: "Ship Kubernetes API-server audit logs from every control-plane node into one trustworthy store.",
        subcommands: [
            QuickstartCommand.self, AgentCommand.self, AggregatorCommand.self, QueryCommand.self, BackfillCommand.self, BenchCommand.self,
            GenerateCommand.self, CertsCommand.self, PolicyCommand.self, AlertsCommand.self, VerifyCommand.self, SoakCommand.self, UICommand.self,
        ]
    )
    public init() {}
}
