import Glibc
import PackGuardCore
import Synchronization

/// An inverter's input capacitors behind the discharge contactor, for the bench and the simulator:
/// charged through the precharge resistor (V_pack·(1 − e^(−t/RC))), at the pack while the
/// contactor is closed, bleeding down while both are open, and at 0 V while shorted.
public final class InverterSimulation: Sendable {
    public let model: InverterModel
    private struct State {
        var busVolts = 0.0
        var updatedAt: Int64?
        var shorted = false
    }
    private let state = Mutex(State())

    public init(model: InverterModel) { self.model = model }

    public var busVolts: Double { state.withLock { $0.busVolts } }

    public var shorted: Bool {
        get { state.withLock { $0.shorted } }
        set { state.withLock { $0.shorted = newValue } }
    }

    /// Moves the model to `nanoseconds` with the relays as they have been since the last update.
    @discardableResult
    public func update(nanoseconds now: Int64, prechargeClosed: Bool, dischargeClosed: Bool, packVolts: Double) -> Double {
        state.withLock { state in
            let elapsed = state.updatedAt.map { Double(now - $0) / 1e9 } ?? 0
            state.updatedAt = now
            if state.shorted {
                state.busVolts = 0
            } else if dischargeClosed {
                state.busVolts = packVolts
            } else if prechargeClosed {
                state.busVolts += (packVolts - state.busVolts) * (1 - exp(-elapsed / model.tauSeconds))
            } else {
                state.busVolts *= exp(-elapsed / model.bleedTauS)
            }
            return state.busVolts
        }
    }
}

/// How an output line toggled over a stretch of time: for the heartbeat, whose minimum rate the
/// charge pump (hardware/README.md 2.4) depends on.
public struct ToggleObservation: Sendable, Equatable, CustomStringConvertible {
    public var toggles: Int
    public var durationNanoseconds: Int64
    /// The longest time without a toggle, including from the start and to the end of the stretch.
    public var longestGapNanoseconds: Int64

    /// From an output history (as `SimulatedGPIO.outputHistory` keeps it) between two instants.
    public init(history: [(nanoseconds: UInt64, high: Bool)], from start: Int64, to end: Int64) {
        let times = history.map { Int64($0.nanoseconds) }.filter { $0 > start && $0 <= end }
        toggles = times.count
        durationNanoseconds = max(0, end - start)
        var gap: Int64 = 0
        var previous = start
        for time in times + [end] {
            gap = max(gap, time - previous)
            previous = time
        }
        longestGapNanoseconds = gap
    }

    public var perSecond: Double { durationNanoseconds > 0 ? Double(toggles) * 1e9 / Double(durationNanoseconds) : 0 }

    public var description: String {
        let rate = Int((perSecond * 10).rounded())
        return "\(toggles) toggles in \(durationNanoseconds / 1_000_000) ms (\(rate / 10).\(rate % 10)/s), longest gap \(longestGapNanoseconds / 1_000_000) ms"
    }
}
