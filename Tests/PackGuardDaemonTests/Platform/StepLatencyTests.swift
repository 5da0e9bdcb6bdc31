// The step latency histogram: its buckets, its percentiles, and the difference of two reports.
import PackGuardCore
import Testing
@testable import PackGuardDaemon

@Suite("step latency histogram")
struct StepLatencyTests {
    @Test("buckets are exact below 16 us and 1/16 of a power of two above; every bucket holds its lower bound")
    func buckets() {
        #expect(StepLatencyHistogram.bucket(of: 0) == 0)
        #expect(StepLatencyHistogram.bucket(of: 15) == 15)
        #expect(StepLatencyHistogram.bucket(of: 16) == 16)
        #expect(StepLatencyHistogram.bucket(of: 17) == 17)
        #expect(StepLatencyHistogram.bucket(of: 32) == 32)
        #expect(StepLatencyHistogram.bucket(of: 33) == 32, "34 us and up share 2 us buckets")
        for bucket in 0..<(StepLatencyHistogram.bucketCount - 1) {
            let low = StepLatencyHistogram.lowerBound(of: bucket)
            #expect(StepLatencyHistogram.bucket(of: low) == bucket)
            #expect(StepLatencyHistogram.bucket(of: StepLatencyHistogram.lowerBound(of: bucket + 1) - 1) == bucket)
        }
        #expect(StepLatencyHistogram.bucket(of: Int64.max) == StepLatencyHistogram.bucketCount - 1, "clamped, never out of range")
    }

    @Test("a step is measured from when it was due if it started late, else from its start")
    func lateness() {
        let histogram = StepLatencyHistogram()
        histogram.expect(.milliseconds(100))
        histogram.record(started: .milliseconds(130), finished: .milliseconds(131))  // 30 ms late
        histogram.record(started: .milliseconds(50), finished: Instant(nanoseconds: 50_200_000))  // early: 200 us
        #expect(histogram.count == 2)
        #expect(histogram.maxMicroseconds == 31_000)
        let report = histogram.report
        #expect(report.count == 2)
        #expect(report.maxUs == 31_000)
        #expect(report.p50Us >= 200 && report.p50Us < 212)
        #expect(report.p99Us == 31_000, "the top of its bucket, capped by the true maximum")
    }

    @Test("since: only the steps recorded between two reports")
    func since() {
        let histogram = StepLatencyHistogram()
        for _ in 0..<10 { histogram.record(started: .milliseconds(0), finished: Instant(nanoseconds: 5_000)) }
        let before = histogram.report
        for _ in 0..<99 { histogram.record(started: .milliseconds(0), finished: Instant(nanoseconds: 1_000_000)) }
        histogram.record(started: .milliseconds(0), finished: .milliseconds(40))
        let window = histogram.report.since(before)
        #expect(window.count == 100)
        #expect(window.p50Us >= 1_000 && window.p50Us < 1_070)
        #expect(window.p99Us >= 1_000 && window.p99Us < 1_070)
        #expect(window.maxUs >= 40_000 && window.maxUs < 42_600)
        #expect(histogram.report.since(histogram.report).count == 0)
    }
}
