@testable import PackGuardCore
import PackGuardWords

/// Drives a policy on a virtual clock and remembers what it said.
struct PolicyHarness {
    var policy: SafetyPolicy
    var now = Instant.zero
    var levels: [InputSignal: Level]
    var lastResult: StepResult?
    var events: [PolicyEvent] = []
    /// What the BMS reports over CAN at every step (nil: CAN not in use).
    var can: CANPackValues?

    init(_ configuration: PolicyConfiguration = PolicyConfiguration(),
         levels: [InputSignal: Level] = [:]) {
        policy = SafetyPolicy(configuration: configuration)
        var all: [InputSignal: Level] = [:]
        for signal in configuration.inputs { all[signal] = .inactive }
        self.levels = all.merging(levels) { $1 }
    }

    var outputs: OutputLevels { policy.currentOutputs }
    func isClosed(_ signal: OutputSignal) -> Bool { outputs[signal].isActive }

    /// One step at the current time with every configured input read at its current level.
    @discardableResult
    mutating func step(soc: SocSample? = nil, failures: [InputSignal: String] = [:],
                       outputFailure: String? = nil, loopDeadlineMissed: Bool = false,
                       commands: [OperatorCommand] = []) -> StepResult {
        var input = StepInput.levels(levels)
        for (signal, why) in failures { input.readings[signal] = .failed(why) }
        input.soc = soc
        input.outputFailure = outputFailure
        input.loopDeadlineMissed = loopDeadlineMissed
        input.commands = commands
        input.can = can
        let result = policy.step(input, now: now)
        events += result.events
        lastResult = result
        return result
    }

    /// Advance the clock in steps of `tick` (the reconcile period), stepping at each.
    mutating func advance(ms: Int, tick: Int = 10, soc: SocSample? = nil) {
        var left = ms
        while left > 0 {
            let dt = min(tick, left)
            now = now + .milliseconds(dt)
            left -= dt
            step(soc: soc)
        }
    }

    mutating func set(_ signal: InputSignal, _ level: Level) { levels[signal] = level }

    /// Start with both enables asserted and run until both contactor relays closed.
    mutating func startAndCloseBoth() {
        set(.chargeEnable, .active)
        set(.dischargeEnable, .active)
        step()
        advance(ms: policy.configuration.timing.startupHoldMs + policy.configuration.timing.qualifyMs)
    }

    func reasons(containing text: String) -> [String] {
        events.map(\.reason.words).filter { $0.contains(text) }
    }
}

extension PolicyConfiguration {
    /// Only the required inputs and the two contactor relays.
    static var minimal: PolicyConfiguration {
        PolicyConfiguration(inputs: [.chargeEnable, .dischargeEnable], outputs: [.chargeRelay, .dischargeRelay])
    }
}
