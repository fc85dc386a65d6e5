import Foundation

/// Builds Prometheus text exposition.
public struct PrometheusText: Sendable {
    public init() {}
    public private(set) var text = ""

    public mutating func header(_ name: String, _ help: String, _ type: String) {
        text += "# HELP \(name) \(help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))\n# TYPE \(name) \(type)\n"
    }

    public mutating func sample(_ name: String, _ labels: [String: String], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(escape($0.value))\"" }.joined(separator: ",") + "}"
        }
        text += " " + format(value) + "\n"
    }

    public mutating func counter(_ name: String, _ help: String, _ value: Int) {
        header(name, help, "counter")
        sample(name, [:], Double(value))
    }

    public mutating func gauge(_ name: String, _ help: String, _ value: Double) {
        header(name, help, "gauge")
        sample(name, [:], value)
    }

    func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}

/// A latency histogram with fixed buckets, in seconds.
public struct Histogram: Sendable {
    public let bounds: [Double]
    public private(set) var counts: [Int]
    public private(set) var sum: Double = 0
    public private(set) var count = 0

    public init(bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]) {
        self.bounds = bounds
        self.counts = Array(repeating: 0, count: bounds.count)
    }

    public mutating func observe(_ seconds: Double) {
        sum += seconds
        count += 1
        for (i, b) in bounds.enumerated() where seconds <= b { counts[i] += 1 }
    }
}

extension PrometheusText {
    /// A histogram as `_bucket` (cumulative, with `le`), `_sum` and `_count` samples.
    public mutating func histogram(_ name: String, _ help: String, _ h: Histogram) {
        header(name, help, "histogram")
        for (i, b) in h.bounds.enumerated() {
            sample(name + "_bucket", ["le": String(b)], Double(h.counts[i]))
        }
        sample(name + "_bucket", ["le": "+Inf"], Double(h.count))
        sample(name + "_sum", [:], h.sum)
        sample(name + "_count", [:], Double(h.count))
    }
}
