import Testing

extension Trait where Self == ConditionTrait {
    /// Runs the test or suite only where `../shared/<relative>` is there (or is required, under
    /// `AUDITSHIP_REQUIRE_SHARED=1`); elsewhere it is skipped with one line naming what is missing.
    public static func needsShared(_ relative: String, sourceLocation: SourceLocation = #_sourceLocation) -> Self {
        .enabled(if: SharedData.shouldRun(relative), Comment(rawValue: SharedData.skipReason(relative)), sourceLocation: sourceLocation)
    }
}
