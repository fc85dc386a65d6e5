import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the agent publishes for `/metrics` and `/healthz`.
extension Agent {
    func publishSnapshot() {
        var snap = AgentSnapshot()
        snap.stats = stats
        let counters = shipping.shippingCounters
        snap.batchesSent = counters.batchesSent
        snap.bytesSent = counters.bytesSent
        snap.retries = counters.retries
        snap.failovers = counters.failovers
        snap.checkpointWrites = checkpointWrites
        snap.spoolBatches = spool.count
        snap.spoolBytes = spool.bytes
        snap.lastAcknowledgement = lastAcknowledgement
        snap.started = started
        snap.lastLoop = Date()
        snap.lastLoopInstant = ContinuousClock.now
        let now = ContinuousClock.now
        for source in sources {
            for f in source.files {
                let behind: Duration = f.settled ? .zero : (now - f.lastCaughtUp)
                let seconds = Double(behind.components.seconds) + Double(behind.components.attoseconds) / 1e18
                var state = AgentSnapshot.FileState(path: f.path, bytesRead: f.bytesRead, unacknowledgedBytes: f.unacknowledgedBytes, lagSeconds: seconds)
                let readBehind: Duration = f.caughtUp ? .zero : (now - f.lastReadToEnd)
                state.readLagSeconds = Double(readBehind.components.seconds) + Double(readBehind.components.attoseconds) / 1e18
                snap.files.append(state)
            }
        }
        metrics.publish(snap)
    }

    static func hostPort(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw FileError(path: text, operation: "parse HOST:PORT", errno: EINVAL)
        }
        return (String(text[..<colon]), port)
    }
}
