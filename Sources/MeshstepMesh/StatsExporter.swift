import CoreMetrics

/// Exports a stats value (``MeshStats``, the resolver's stats) to swift-metrics, so whatever
/// backend the application bootstraps (Prometheus, StatsD...) can scrape the counters. Each
/// ``export(_:)`` adds to every counter what its field rose by since the previous call; fields
/// named in `gauges` are recorded as they are. Field names become snake_case labels:
/// `datagramsReceived` in a `meshstep_mesh` exporter is `meshstep_mesh_datagrams_received_total`.
/// With no backend bootstrapped, swift-metrics discards everything.
public struct StatsExporter {
    let prefix: String
    let dimensions: [(String, String)]
    let gauges: Set<String>
    let factory: (any MetricsFactory)?
    var last: [String: Int] = [:]
    var counters: [String: Counter] = [:]
    var gaugeHandles: [String: Gauge] = [:]

    /// - Parameters:
    ///   - prefix: the start of every label (`meshstep_mesh`).
    ///   - dimensions: attached to every metric (for example `("mesh", meshID)`).
    ///   - gauges: fields that are current values, not running totals.
    ///   - factory: where the metrics go; nil (the default) for the process-wide
    ///     `MetricsSystem` the application bootstraps.
    public init(prefix: String, dimensions: [(String, String)] = [], gauges: Set<String> = [], factory: (any MetricsFactory)? = nil) {
        self.prefix = prefix
        self.dimensions = dimensions
        self.gauges = gauges
        self.factory = factory
    }

    /// Reports every integer field of `stats` (its stored properties, by reflection).
    public mutating func export(_ stats: some Any) {
        for child in Mirror(reflecting: stats).children {
            guard let name = child.label, let value = child.value as? Int else { continue }
            if gauges.contains(name) {
                let label = "\(prefix)_\(Self.snakeCase(name))"
                let gauge =
                    gaugeHandles[name] ?? factory.map { Gauge(label: label, dimensions: dimensions, factory: $0) }
                    ?? Gauge(label: label, dimensions: dimensions)
                gaugeHandles[name] = gauge
                gauge.record(value)
                continue
            }
            let delta = value - (last[name] ?? 0)
            last[name] = value
            guard delta > 0 else { continue }
            let label = "\(prefix)_\(Self.snakeCase(name))_total"
            let counter =
                counters[name] ?? factory.map { Counter(label: label, dimensions: dimensions, factory: $0) } ?? Counter(label: label, dimensions: dimensions)
            counters[name] = counter
            counter.increment(by: delta)
        }
    }

    /// `datagramsReceived` → `datagrams_received`.
    static func snakeCase(_ name: String) -> String {
        var out = ""
        for c in name {
            if c.isUppercase {
                out += "_" + c.lowercased()
            } else {
                out.append(c)
            }
        }
        return out
    }
}
