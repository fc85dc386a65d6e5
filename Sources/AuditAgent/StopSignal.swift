import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM / SIGINT as a flag that loops poll (async-signal-safe: the
/// handler only stores to a lock-free atomic).
public enum StopSignal {
    private static let flag = Atomic<Bool>(false)

    /// Installs handlers for SIGTERM and SIGINT.
    public static func install() {
        for sig in [SIGTERM, SIGINT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in StopSignal.flag.store(true, ordering: .relaxed) }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(sig, &action, nil)
        }
    }

    /// True once a stop was requested.
    public static var requested: Bool { flag.load(ordering: .relaxed) }

    /// Requests a stop from code (tests, one-shot modes).
    public static func request() { flag.store(true, ordering: .relaxed) }
}

/// SIGHUP as a flag: "re-read your configuration".
public enum ReloadSignal {
    private static let flag = Atomic<Bool>(false)

    public static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in ReloadSignal.flag.store(true, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGHUP, &action, nil)
    }

    /// True once after each SIGHUP.
    public static func take() -> Bool { flag.exchange(false, ordering: .relaxed) }
}
