import PackGuardADC
import PackGuardCAN
import PackGuardCore

extension Setting {
    /// Every scalar setting, in file order. A new setting is one line here (plus the field that
    /// holds it); the loader, `check-config`'s effective configuration, reload diffs, scenario
    /// quantities and hardware/CONFIG.md follow. The structured parts (`inputs`, `outputs`,
    /// `adc.channels`, `can.messages`) are read by the loader itself.
    public static var all: [Setting] {
        [
            // timing: the policy's, then the loop's.
            .integer("timing.startupHoldMs", \.policy.timing.startupHoldMs, 0...60_000, .milliseconds,
                     "stay `starting` (all off) at least this long, and until every input was read"),
            .integer("timing.qualifyMs", \.policy.timing.qualifyMs, 20...60_000, .milliseconds,
                     "conditions must hold continuously this long before a relay closes"),
            .integer("timing.minOffMs", \.policy.timing.minOffMs, 0...600_000, .milliseconds,
                     "an opened relay stays open at least this long"),
            .integer("timing.chatterLimit", \.policy.timing.chatterLimit, 1...100, .openings,
                     "more openings than this within the window latch `chatter`"),
            .integer("timing.chatterWindowS", \.policy.timing.chatterWindowS, 1...3600, .seconds,
                     "the chatter window"),
            .integer("timing.switchDebounceMs", \.policy.timing.switchDebounceMs, 5...5000, .milliseconds,
                     "balancing switch debounce"),
            .integer("timing.balanceMaxHours", \.policy.timing.balanceMaxHours, 1...72, .hours,
                     "balancing mode ends by itself after this"),
            .integer("timing.feedbackTimeoutMs", \.policy.timing.feedbackTimeoutMs, 20...10_000, .milliseconds,
                     "contactor feedback must follow the command within this"),
            .integer("timing.inputStaleMs", \.policy.timing.inputStaleMs, 50...60_000, .milliseconds,
                     "an input not read successfully for this long is a fault"),
            .integer("timing.reconcileMs", \.loop.reconcileMs, 10...5000, .milliseconds,
                     "every input is re-read this often, even without edges (the loop's, not the policy's)"),
            .integer("timing.loopDeadlineMs", \.loop.loopDeadlineMs, 20...10_000, .milliseconds,
                     "internal watchdog: a control step later than this forces every relay off"),

            .flag("soc.enabled", \.policy.soc.enabled,
                  "SOC rules on; needs `adc.enabled: true` (or `source: can` with `can.enabled: true`)"),
            .number("soc.dischargeCutoffSoc", \.policy.soc.dischargeCutoffSoc, 0...100, .percent,
                    "at or below this the discharge relay opens"),
            .number("soc.chargeStopSoc", \.policy.soc.chargeStopSoc, 0...100, .percent,
                    "at or above this the charge relay opens"),
            .number("soc.socHysteresis", \.policy.soc.socHysteresis, 0.5...50, .percent,
                    "discharge resumes at cut-off + this; charging resumes at stop − this"),
            .integer("soc.socStaleMs", \.policy.soc.socStaleMs, 100...600_000, .milliseconds,
                     "a SOC reading older than this is invalid"),
            .choice("soc.onSocFault", \.policy.soc.onSocFault,
                    "on an invalid SOC: `ignore` (the BMS stays the authority), `openDischarge` or `openAll`"),
            .choice("soc.source", \.policy.soc.source,
                    "where the SOC comes from: `adc` (BMS pin 11 through the ADS1115) or `can` (a `soc` field of the CAN table)"),

            .flag("adc.enabled", \.adc.enabled, "read the ADS1115 in `packguard run`; `soc.enabled` needs it"),
            .text("adc.bus", \.adc.ads1115.busPath, allowed: "absolute path", check: absolutePathProblem,
                  "the I2C bus device"),
            .integer("adc.address", \.adc.address, 0x48...0x4B, .none, shownAs: .hexadecimal,
                     "the ADS1115 address: ADDR to GND 0x48, VDD 0x49, SDA 0x4A, SCL 0x4B"),
            Setting(key: "adc.pga", unit: .volts,
                    doc: "PGA full-scale range, ± volts", value: .choice(Choice(
                        names: ADS1115Gain.allCases.map { "\($0.fullScaleVolts)" },
                        expected: "the PGA full-scale range in volts, one of \(ADS1115Gain.allCases.map { "\($0.fullScaleVolts)" }.joined(separator: ", "))",
                        read: { "\($0.adc.ads1115.gain.fullScaleVolts)" },
                        write: { configuration, text in
                            guard let volts = Double(text), let gain = ADS1115Gain(fullScaleVolts: volts) else { return false }
                            configuration.adc.ads1115.gain = gain
                            return true
                        }))),
            Setting(key: "adc.dataRate", unit: .none,
                    doc: "samples per second of one conversion; conversions run on the control thread, so an edge arriving during a sample waits for it (at 860 SPS three inputs take about 3.5 ms, at 128 SPS about 24 ms)",
                    value: .choice(Choice(
                        names: ADS1115DataRate.allCases.map { "\($0.samplesPerSecond)" },
                        expected: "samples per second, one of \(ADS1115DataRate.allCases.map { "\($0.samplesPerSecond)" }.joined(separator: ", "))",
                        read: { "\($0.adc.ads1115.dataRate.samplesPerSecond)" },
                        write: { configuration, text in
                            guard let rate = Int(text).flatMap(ADS1115DataRate.init(rawValue:)) else { return false }
                            configuration.adc.ads1115.dataRate = rate
                            return true
                        }))),
            .number("adc.supplyVolts", \.adc.ads1115.supplyVolts, 2.0...5.5, .volts, "the ADS1115's VDD"),
            .integer("adc.samplePeriodMs", \.adc.ads1115.samplePeriodMilliseconds, 10...60_000, .milliseconds,
                     "every used input is converted this often"),
            .integer("adc.medianSamples", \.adc.ads1115.medianWindow, 1...ADS1115Configuration.largestMedianWindow, .samples,
                     "a signal is the median of its last this-many good samples"),
            .integer("adc.staleMs", \.adc.ads1115.staleTimeoutMilliseconds, 100...600_000, .milliseconds,
                     "a signal without a good sample for this long is invalid (more than `samplePeriodMs`)"),

            .integer("heartbeat.minToggleHz", \.heartbeat.minToggleHz, 1...100, .togglesPerSecond,
                     "level changes per second the heartbeat output makes at least while the controller is healthy (the charge pump of hardware/README.md 2.4 is designed for 20)"),

            .flag("precharge.enabled", \.precharge.enabled,
                  "precharge before the discharge relay closes (needs `outputs.prechargeRelay`)"),
            .number("precharge.targetPercent", \.precharge.targetPercent, 50...99, .percent,
                    "sensed: complete once the bus voltage reaches this share of the pack voltage"),
            .integer("precharge.timeMs", \.precharge.timeMs, 20...30_000, .milliseconds,
                     "timed (no bus sensing): complete after this long; make it at least 5 RC"),
            .integer("precharge.timeoutMs", \.precharge.timeoutMs, 100...60_000, .milliseconds,
                     "a sequence not complete by then opens the precharge relay and latches `prechargeFailed` until `packguard reset`"),
            .integer("precharge.overlapMs", \.precharge.overlapMs, 0...5000, .milliseconds,
                     "both relays closed this long before the precharge relay opens"),
            .integer("precharge.maxAttempts", \.precharge.maxAttempts, 1...20, .sequences,
                     "more sequences than this within `attemptWindowS` latch `prechargeFailed` (a resistor driven again and again overheats)"),
            .integer("precharge.attemptWindowS", \.precharge.attemptWindowS, 10...3600, .seconds,
                     "the window for `maxAttempts`"),
            Setting(key: "precharge.packVoltageV", unit: .volts,
                    doc: "sensed without an input carrying `packVoltage`: the pack voltage the bus is compared with (give the pack's minimum operating voltage); no default",
                    value: .optionalNumber(\.precharge.packVoltageV, 6.0...60.0)),

            .flag("can.enabled", \.can.rules.enabled,
                  "read the BMS's CAN messages (the daemon fails to start if `interface` cannot be opened)"),
            .text("can.interface", \.can.interface, allowed: "at most 15 characters, no `/` or spaces",
                  check: interfaceNameProblem, "the SocketCAN interface"),
            Setting(key: "can.bitrate", unit: .bitsPerSecond,
                    doc: "for the installer's `ip link set ... bitrate`, as in the Orion utility (the daemon only listens)",
                    value: .choice(Choice(
                        names: CANSettings.bitrates.map(String.init),
                        expected: "one of \(CANSettings.bitrates.map(String.init).joined(separator: ", ")) (bit/s, as set in the Orion utility)",
                        read: { String($0.can.bitrate) },
                        write: { configuration, text in
                            guard let rate = Int(text), CANSettings.bitrates.contains(rate) else { return false }
                            configuration.can.bitrate = rate
                            return true
                        }))),
            Setting(key: "can.preset", unit: .none,
                    doc: "the decoding table: `orionDefault` (0x6B0, 0x6B1), `victron` (0x351, 0x355, 0x356, 0x35A) or `custom` (then `messages`)",
                    value: .choice(Choice(
                        names: CANSettings.Table.allCases.map(\.rawValue),
                        expected: "one of \(CANSettings.Table.allCases.map(\.rawValue).joined(separator: ", "))",
                        read: { $0.can.table.rawValue },
                        write: { configuration, text in
                            guard let table = CANSettings.Table(rawValue: text) else { return false }
                            configuration.can.table = table
                            switch table {
                            case .orionDefault: configuration.can.messages = CANPreset.orionDefault.messages
                            case .victron: configuration.can.messages = CANPreset.victron.messages
                            case .custom: configuration.can.messages = []
                            }
                            return true
                        }))),
            .integer("can.staleMs", \.can.rules.staleMs, 50...600_000, .milliseconds,
                     "no frame of a configured message this long makes its values invalid (at least two periods of the slowest message)"),
            .choice("can.onStale", \.can.rules.onStale,
                    "`ignore` (the wires stay the authority; `canStale` is shown) or `openAll`"),
            .flag("can.currentWhileOpen", \.can.rules.currentWhileOpen,
                  "latch `currentWhileOpen` (every relay opens) on current through a relay commanded open; needs a `packCurrentA` field"),
            .number("can.openCurrentA", \.can.rules.openCurrentA, 0.5...1000, .amperes,
                    "the current above which that counts"),
            .integer("can.openCurrentMs", \.can.rules.openCurrentMs, 0...60_000, .milliseconds, "for this long"),
            .flag("can.bmsDisagrees", \.can.rules.bmsDisagrees,
                  "open a contactor relay whose BMS relay bit over CAN disagrees with its wired enable; needs `chargeRelay` and `dischargeRelay` fields"),
            .integer("can.disagreeMs", \.can.rules.disagreeMs, 50...60_000, .milliseconds, "for this long"),

            .flag("watchdog.hardware.enabled", \.hardwareWatchdog.enabled,
                  "own the hardware watchdog device (then do not also set systemd's `RuntimeWatchdogSec`)"),
            .text("watchdog.hardware.device", \.hardwareWatchdog.device, allowed: "absolute path",
                  check: absolutePathProblem, "the device"),
            .integer("watchdog.hardware.timeoutS", \.hardwareWatchdog.timeoutS, 1...600, .seconds,
                     "the timeout set on the device; at least twice `petIntervalMs`"),
            .integer("watchdog.hardware.petIntervalMs", \.hardwareWatchdog.petIntervalMs, 100...60_000, .milliseconds,
                     "how often healthy steps pet the device; the loop wakes for each pet, however long `reconcileMs` is"),

            .text("paths.controlSocket", \.paths.controlSocket, allowed: "absolute path", check: absolutePathProblem,
                  "the control socket for `status`, `reset`, `force-off` (read at start)"),
            .text("paths.stateDirectory", \.paths.stateDirectory, allowed: "absolute path", check: absolutePathProblem,
                  "persistent state: the force-off latch (read at start)"),

            .text("control.adminGroup", \.control.adminGroup, allowed: "a group name: letters, digits, `_ - .`, at most 32",
                  check: groupNameProblem,
                  "members (and root) may also `reset` and `force-off off`; group `packguard` may only `status`, `events` and `force-off on` (read at start)"),
            .integer("control.maxClients", \.control.maxClients, 1...1024, .connections,
                     "control connections served at once; more are answered \"busy\" and closed (read at start)"),

            .choice("realtime.scheduling", \.realtime.scheduling,
                    "`fifo`: the control thread runs SCHED_FIFO at `priority`, the internal watchdog thread at `priority` + 1 (a control thread stuck in a loop cannot starve the thread that opens the relays) and the off reflex thread at `priority` + 2; `other`: a normal process (read at start)"),
            .integer("realtime.priority", \.realtime.priority, RealtimeSettings.priorities, .schedulingPriority,
                     "SCHED_FIFO priority: below the kernel's threaded interrupt handlers (50), so the GPIO interrupt itself is never held up; the unit's `LimitRTPRIO=` must be at least `priority` + 2"),
            .flag("realtime.lockMemory", \.realtime.lockMemory,
                  "`mlockall(MCL_CURRENT | MCL_ONFAULT)` once every thread runs: each page is locked when first used, so nothing the loop has touched is paged out"),
        ]
    }

    /// The setting at `key`, if the table has one.
    public static func named(_ key: String) -> Setting? { all.first { $0.key == key } }

    // MARK: Declaring

    static func integer(_ key: String, _ path: WritableKeyPath<PackGuardConfiguration, Int>, _ range: ClosedRange<Int>,
                        _ unit: SettingUnit, shownAs style: IntegerStyle = .decimal, _ doc: String) -> Setting {
        Setting(key: key, unit: unit, doc: doc, value: .integer(path, range, shownAs: style))
    }

    static func number(_ key: String, _ path: WritableKeyPath<PackGuardConfiguration, Double>, _ range: ClosedRange<Double>,
                       _ unit: SettingUnit, _ doc: String) -> Setting {
        Setting(key: key, unit: unit, doc: doc, value: .number(path, range))
    }

    static func flag(_ key: String, _ path: WritableKeyPath<PackGuardConfiguration, Bool>, _ doc: String) -> Setting {
        Setting(key: key, unit: .none, doc: doc, value: .flag(path))
    }

    static func text(_ key: String, _ path: WritableKeyPath<PackGuardConfiguration, String>, allowed: String,
                     check: @escaping (String) -> String?, _ doc: String) -> Setting {
        Setting(key: key, unit: .none, doc: doc, value: .text(path, allowed: allowed, check: check))
    }

    static func choice<Word: RawRepresentable & CaseIterable>(
        _ key: String, _ path: WritableKeyPath<PackGuardConfiguration, Word>, _ doc: String
    ) -> Setting where Word.RawValue == String {
        let names = Word.allCases.map(\.rawValue)
        return Setting(key: key, unit: .none, doc: doc, value: .choice(Choice(
            names: names, expected: "one of \(names.joined(separator: ", "))",
            read: { $0[keyPath: path].rawValue },
            write: { configuration, text in
                guard let word = Word(rawValue: text) else { return false }
                configuration[keyPath: path] = word
                return true
            })))
    }
}

// MARK: Text checks

func absolutePathProblem(_ text: String) -> String? {
    text.hasPrefix("/") ? nil : "expected an absolute path, got '\(text)'"
}

/// A group name as groupadd accepts it; a typo here would silently lock every admin out.
func groupNameProblem(_ text: String) -> String? {
    let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
    return text.count > 32 || text.hasPrefix("-") || !text.allSatisfy(allowed.contains)
        ? "'\(text)' is not a group name (letters, digits, _ - ., at most 32)" : nil
}

/// A Linux interface name: at most 15 bytes, no slash or white space.
func interfaceNameProblem(_ text: String) -> String? {
    text.utf8.count > 15 || text.contains("/") || text.contains(where: \.isWhitespace)
        ? "'\(text)' is not a network interface name (at most 15 characters, no '/' or spaces)" : nil
}
