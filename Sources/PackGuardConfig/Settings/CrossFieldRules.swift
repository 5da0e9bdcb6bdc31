import PackGuardADC
import PackGuardCAN
import PackGuardCore

/// A rule between settings, declared beside the table: the loader checks every rule on the
/// parsed configuration and reports a broken one at `key`, pointing at the first of `at` that the
/// file gives (or at `key`'s section). hardware/CONFIG.md lists them from here.
public struct CrossFieldRule {
    /// The key the problem is reported at.
    public let key: String
    /// Where the message points, first given first.
    let at: [String]
    /// One line for the reference.
    public let doc: String
    /// The problem in `configuration`, or nil when the rule holds.
    let check: (PackGuardConfiguration) -> String?

    public func problem(in configuration: PackGuardConfiguration) -> String? { check(configuration) }

    public static var all: [CrossFieldRule] {
        [
            CrossFieldRule(key: "timing.inputStaleMs", at: ["timing.inputStaleMs", "timing"],
                           doc: "`timing.inputStaleMs` ≥ 2 × `timing.reconcileMs`") { c in
                c.timing.inputStaleMs >= 2 * c.loop.reconcileMs ? nil
                    : "\(c.timing.inputStaleMs) ms must be at least twice reconcileMs (\(c.loop.reconcileMs) ms), or every input would go stale between re-reads"
            },
            CrossFieldRule(key: "soc", at: ["soc.chargeStopSoc", "soc"],
                           doc: "`soc.dischargeCutoffSoc + socHysteresis` < `soc.chargeStopSoc − socHysteresis`") { c in
                let soc = c.policy.soc
                let resumeDischarge = soc.dischargeCutoffSoc + soc.socHysteresis
                let resumeCharge = soc.chargeStopSoc - soc.socHysteresis
                return resumeDischarge < resumeCharge ? nil
                    : "thresholds overlap: discharge resumes at \(resumeDischarge) % (cut-off + hysteresis) but charging resumes at \(resumeCharge) % (stop - hysteresis); the first must be below the second"
            },
            CrossFieldRule(key: "soc.source", at: ["soc"],
                           doc: "`soc.source: can` needs `can.enabled: true`") { c in
                c.policy.soc.enabled && c.policy.soc.source == .can && !c.can.rules.enabled
                    ? "the SOC comes from CAN but can.enabled is false: set can.enabled: true, or soc.source: adc" : nil
            },
            CrossFieldRule(key: "soc.source", at: ["can"],
                           doc: "`soc.source: can` needs a field with `quantity: soc` in the CAN table") { c in
                c.policy.soc.enabled && c.policy.soc.source == .can && c.can.rules.enabled
                    && !c.can.messages.contains(where: { $0.fields.contains { $0.quantity == .soc } })
                    ? "the SOC comes from CAN but no message in the can table carries a field with quantity: soc" : nil
            },
            CrossFieldRule(key: "soc.enabled", at: ["soc"],
                           doc: "`soc.enabled` with `source: adc` needs `adc.enabled: true`") { c in
                c.policy.soc.enabled && c.policy.soc.source == .adc && !c.adc.enabled
                    ? "the SOC rules need the ADC: set adc.enabled: true (the SOC comes from BMS pin 11 through the ADS1115)" : nil
            },
            CrossFieldRule(key: "soc.enabled", at: ["soc"],
                           doc: "`soc.enabled` with `source: adc` needs an ADS1115 input with `signal: soc`") { c in
                c.policy.soc.enabled && c.policy.soc.source == .adc && c.adc.enabled && c.adc.ads1115.channel(for: .soc) == nil
                    ? "the SOC rules need an ADS1115 input carrying the SOC: give one of adc.channels signal: soc (BMS pin 11, AIN0 by default)" : nil
            },
            CrossFieldRule(key: "watchdog.hardware.timeoutS", at: ["watchdog.hardware.timeoutS", "watchdog.hardware"],
                           doc: "`watchdog.hardware.timeoutS` × 1000 ≥ 2 × `petIntervalMs`") { c in
                let w = c.hardwareWatchdog
                return w.timeoutS * 1000 >= 2 * w.petIntervalMs ? nil
                    : "\(w.timeoutS) s must be at least twice watchdog.hardware.petIntervalMs (\(w.petIntervalMs) ms), or one late pet resets the board"
            },
            // A sample converts every used ADS1115 input inside one control step: at its worst it must
            // leave half of the loop's deadline for everything else, or sampling alone trips the
            // internal watchdog.
            CrossFieldRule(key: "adc.dataRate", at: ["adc.dataRate", "adc"],
                           doc: "with `adc.enabled`, one worst-case sample < half of `timing.loopDeadlineMs`") { c in
                guard c.adc.enabled else { return nil }
                let device = c.adc.ads1115
                let worst = Self.worstSampleNanoseconds(device)
                guard worst >= UInt64(c.loop.loopDeadlineMs) * 500_000 else { return nil }
                return "\(device.channels.count) conversions at \(device.dataRate.samplesPerSecond) SPS may take \(Self.ceilingMs(worst)) ms, not under half of timing.loopDeadlineMs (\(c.loop.loopDeadlineMs) ms): choose a faster adc.dataRate or a longer timing.loopDeadlineMs"
            },
            // The heartbeat's minimum rate, and what could keep the loop from it: an ADS1115 sample
            // blocks the control thread for up to its worst-case conversion time.
            CrossFieldRule(key: "heartbeat.minToggleHz", at: ["heartbeat", "adc"],
                           doc: "with `adc.enabled`, one worst-case sample < `1000 / heartbeat.minToggleHz` ms") { c in
                guard c.adc.enabled else { return nil }
                let device = c.adc.ads1115
                let worstMs = Self.ceilingMs(Self.worstSampleNanoseconds(device))
                let interval = c.heartbeat.toggleIntervalMs
                return worstMs < UInt64(interval) ? nil
                    : "\(c.heartbeat.minToggleHz) toggles per second leave \(interval) ms between toggles, but a sample of \(device.channels.count) inputs at adc.dataRate \(device.dataRate.samplesPerSecond) SPS may block the loop for \(worstMs) ms: choose a faster adc.dataRate or a lower heartbeat.minToggleHz"
            },
            CrossFieldRule(key: "precharge.enabled", at: ["precharge.enabled", "precharge"],
                           doc: "`precharge.enabled` needs `outputs.prechargeRelay`") { c in
                c.precharge.enabled && c.outputs[.prechargeRelay] == nil
                    ? "the precharge needs its relay: wire outputs.prechargeRelay (the relay that switches the precharge resistor)" : nil
            },
            CrossFieldRule(key: "precharge.enabled", at: ["precharge.enabled", "precharge"],
                           doc: "an ADS1115 input carrying `busVoltage` needs `adc.enabled: true`") { c in
                c.precharge.enabled && !c.adc.enabled && c.adc.ads1115.channel(for: .busVoltage) != nil
                    ? "an ADS1115 input carries busVoltage but adc.enabled is false: set adc.enabled: true to sense the precharge, or remove the input to precharge on timeMs" : nil
            },
            CrossFieldRule(key: "precharge.packVoltageV", at: ["precharge.enabled", "precharge"],
                           doc: "a sensed precharge needs `precharge.packVoltageV` or an input with `signal: packVoltage`") { c in
                c.precharge.enabled && Self.isSensed(c) && c.adc.ads1115.channel(for: .packVoltage) == nil && c.precharge.packVoltageV == nil
                    ? "a sensed precharge compares the bus with the pack: give precharge.packVoltageV (the pack's nominal volts) or an ADS1115 input with signal: packVoltage" : nil
            },
            CrossFieldRule(key: "precharge.timeoutMs", at: ["precharge.timeoutMs", "precharge"],
                           doc: "a timed precharge: `timeoutMs` ≥ `timeMs + overlapMs`") { c in
                let p = c.precharge
                return p.enabled && !Self.isSensed(c) && p.timeoutMs < p.timeMs + p.overlapMs
                    ? "\(p.timeoutMs) ms must be at least precharge.timeMs + precharge.overlapMs (\(p.timeMs) + \(p.overlapMs) ms), or every timed precharge fails" : nil
            },
            CrossFieldRule(key: "can.currentWhileOpen", at: ["can.currentWhileOpen", "can"],
                           doc: "`can.currentWhileOpen` needs a `packCurrentA` field") { c in
                c.can.rules.currentWhileOpen && !Self.quantities(c).contains(.packCurrentA)
                    ? "needs the pack current: no message in the table has a field with quantity: packCurrentA" : nil
            },
            CrossFieldRule(key: "can.bmsDisagrees", at: ["can.bmsDisagrees", "can"],
                           doc: "`can.bmsDisagrees` needs `chargeRelay` and `dischargeRelay` fields") { c in
                let quantities = Self.quantities(c)
                return c.can.rules.bmsDisagrees && !(quantities.contains(.chargeRelay) && quantities.contains(.dischargeRelay))
                    ? "needs the BMS's relay bits: the table has no chargeRelay and dischargeRelay fields (the Victron profile carries none; use preset orionDefault or custom messages)" : nil
            },
            CrossFieldRule(key: "can.staleMs", at: ["can.staleMs", "can"],
                           doc: "`can.staleMs` ≥ 2 × the slowest message's `periodMs`") { c in
                let maxPeriod = c.can.messages.map(\.periodMs).max() ?? 0
                return c.can.rules.staleMs >= maxPeriod * 2 ? nil
                    : "\(c.can.rules.staleMs) ms is less than two periods of the slowest message (\(maxPeriod) ms): every gap would be a stale fault"
            },
        ]
    }

    static func worstSampleNanoseconds(_ device: ADS1115Configuration) -> UInt64 {
        UInt64(device.channels.count) * device.dataRate.conversionTimeoutNanoseconds
    }

    static func ceilingMs(_ nanoseconds: UInt64) -> UInt64 { (nanoseconds + 999_999) / 1_000_000 }

    static func isSensed(_ c: PackGuardConfiguration) -> Bool {
        c.adc.enabled && c.adc.ads1115.channel(for: .busVoltage) != nil
    }

    static func quantities(_ c: PackGuardConfiguration) -> Set<CANQuantity> {
        Set(c.can.messages.flatMap { $0.fields.map(\.quantity) })
    }
}
