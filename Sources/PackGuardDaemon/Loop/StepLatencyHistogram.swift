import PackGuardCore

/// How late control steps finish: from when a step was due (the wake the loop asked for), or
/// from its start when it started early (an edge, a command), to its end. Anything that holds the
/// control thread between wakes (the control socket, say) shows up here before it becomes a
/// deadline miss. Fixed buckets allocated once: recording allocates nothing.
///
/// Control thread only (the steps record, `status` reads), like the rest of the controller's state.
public final class StepLatencyHistogram: @unchecked Sendable {
    // @unchecked: confined to the control thread, like Controller's own state.

    /// Values below 16 µs have a bucket each; above, 16 buckets per power of two (6 % wide).
    static let exactBuckets: Int64 = 16
    static let bucketCount = 16 + 36 * 16
    private var counts: [Int]
    private var due: Instant?
    public private(set) var count = 0
    public private(set) var maxMicroseconds: Int64 = 0

    public init() { counts = [Int](repeating: 0, count: Self.bucketCount) }

    /// The loop will next step by `instant` (the step is late if it finishes after that).
    func expect(_ instant: Instant) { due = instant }

    /// A step that started at `started` has just finished at `finished`.
    func record(started: Instant, finished: Instant) {
        let from = due.map { min($0, started) } ?? started
        let micros = max(0, (finished - from).nanoseconds / 1000)
        counts[Self.bucket(of: micros)] += 1
        count += 1
        if micros > maxMicroseconds { maxMicroseconds = micros }
    }

    /// One duration measured elsewhere (the off-reaction: from the kernel's edge timestamp).
    func record(microseconds micros: Int64) {
        let micros = max(0, micros)
        counts[Self.bucket(of: micros)] += 1
        count += 1
        if micros > maxMicroseconds { maxMicroseconds = micros }
    }

    static func bucket(of micros: Int64) -> Int {
        if micros < exactBuckets { return Int(micros) }
        let value = min(micros, (Int64(1) << 40) - 1)
        let exponent = 63 - value.leadingZeroBitCount  // 4 ... 39
        let sub = Int((value >> (exponent - 4)) & 15)
        return 16 + (exponent - 4) * 16 + sub
    }

    /// The smallest value in `bucket`, in µs.
    static func lowerBound(of bucket: Int) -> Int64 {
        if bucket < 16 { return Int64(bucket) }
        let exponent = (bucket - 16) / 16 + 4
        let sub = Int64((bucket - 16) % 16)
        return (16 | sub) << (exponent - 4)
    }

    /// For `status`: the counts (only the non-empty buckets) and the percentiles.
    public var report: StepLatencyReport {
        var buckets: [[Int64]] = []
        for (index, value) in counts.enumerated() where value > 0 {
            buckets.append([Self.lowerBound(of: index), Int64(value)])
        }
        return StepLatencyReport(buckets: buckets, maxUs: maxMicroseconds)
    }
}

/// Step latencies as `status --json` shows them; two reports can be subtracted, so a benchmark can
/// measure one stretch of a long-running daemon.
public struct StepLatencyReport: Sendable, Equatable, Codable {
    /// `[lowest µs of the bucket, steps]` for each non-empty bucket, in order.
    public var buckets: [[Int64]]
    public var count: Int64
    /// Exact largest latency since start (µs); for a difference, the top of its highest bucket.
    public var maxUs: Int64
    /// Percentiles, each the top of the bucket it falls in (an overestimate by at most 6 %).
    public var p50Us: Int64
    public var p99Us: Int64

    public init(buckets: [[Int64]], maxUs: Int64) {
        self.buckets = buckets
        count = buckets.reduce(0) { $0 + $1[1] }
        self.maxUs = maxUs
        p50Us = Self.percentile(0.50, of: buckets, count: count, max: maxUs)
        p99Us = Self.percentile(0.99, of: buckets, count: count, max: maxUs)
    }

    /// The steps in `self` that are not in `earlier` (an earlier report of the same daemon).
    public func since(_ earlier: StepLatencyReport) -> StepLatencyReport {
        var before: [Int64: Int64] = [:]
        for bucket in earlier.buckets { before[bucket[0]] = bucket[1] }
        let difference = buckets.compactMap { bucket -> [Int64]? in
            let steps = bucket[1] - (before[bucket[0]] ?? 0)
            return steps > 0 ? [bucket[0], steps] : nil
        }
        let top = difference.last.map { Self.upperBound(ofBucketAt: $0[0]) } ?? 0
        return StepLatencyReport(buckets: difference, maxUs: min(top, maxUs))
    }

    static func upperBound(ofBucketAt lower: Int64) -> Int64 {
        let index = StepLatencyHistogram.bucket(of: lower)
        return StepLatencyHistogram.lowerBound(of: index + 1) - 1
    }

    static func percentile(_ fraction: Double, of buckets: [[Int64]], count: Int64, max: Int64) -> Int64 {
        guard count > 0 else { return 0 }
        let rank = Int64((Double(count) * fraction).rounded(.up))
        var seen: Int64 = 0
        for bucket in buckets {
            seen += bucket[1]
            if seen >= rank { return Swift.min(upperBound(ofBucketAt: bucket[0]), max) }
        }
        return max
    }
}
