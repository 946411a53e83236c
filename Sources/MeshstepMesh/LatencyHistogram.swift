import Histogram

/// Latencies in constant memory: an HdrHistogram of microseconds (three significant digits, so
/// a percentile is within 0.1% of the exact value), however many are recorded.
public struct LatencyHistogram: Sendable {
    var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)

    /// An empty histogram (tracks 0 to one hour).
    public init() {}

    /// How many latencies were recorded.
    public var count: Int { Int(histogram.totalCount) }

    /// Records one latency (negative ones count as zero, beyond an hour as an hour).
    public mutating func record(_ latency: Duration) {
        let c = latency.components
        let us = c.seconds * 1_000_000 + c.attoseconds / 1_000_000_000_000
        _ = histogram.record(UInt64(min(max(0, us), 3_600_000_000)))
    }

    /// The latency at `percentile` (0...100) in milliseconds; 0 when nothing was recorded.
    public func milliseconds(atPercentile percentile: Double) -> Double {
        count == 0 ? 0 : Double(histogram.valueAtPercentile(percentile)) / 1000
    }

    /// The largest latency recorded, in milliseconds (0 when none).
    public var maxMilliseconds: Double { count == 0 ? 0 : Double(histogram.max) / 1000 }
}
