import ArgumentParser
import PackGuardCommandLine
import PackGuardCAN
import PackGuardConfig
import PackGuardCore
import PackGuardDaemon

struct CanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "can",
        abstract: "Listen on the CAN bus as configured and decode every frame of the configured messages.",
        discussion: """
            Opens can.interface listen-only (never sends), with kernel filters for the identifiers of the \
            decoding table (can.preset, or can.messages with preset: custom), and prints every frame that \
            arrives: time, identifier, length, raw bytes and the decoded fields with their units; or why it is \
            ignored (too short, bad checksum). Each second it prints how often each message came, against its \
            configured period. It works with can.enabled: false, and alongside `packguard run` (CAN sockets \
            each get every frame).

            Bring the interface up first, e.g. `ip link set can0 up type can bitrate 500000 listen-only on`, \
            or for a test bus `ip link add dev vcan0 type vcan && ip link set up vcan0`.

            Exit status 0 when at least one frame decoded; 1 when none did, or when the configuration is \
            invalid or the interface cannot be opened (the message names interface and errno).
            """
    )

    @Option(help: "The configuration file (default: \(defaultConfigurationPath), or the built-in default when it does not exist).")
    var config: String?

    @Option(help: "Listen on this interface instead of can.interface (e.g. vcan0).")
    var interface: String?

    @Option(help: "Stop after this many seconds (1–86400).")
    var seconds = 10

    @Option(help: "Stop after this many frames (0: no limit).")
    var count = 0

    func validate() throws {
        guard (1...86_400).contains(seconds) else { throw ValidationError("--seconds must be 1 to 86400, got \(seconds)") }
        guard count >= 0 else { throw ValidationError("--count must be 0 or more, got \(count)") }
    }

    func run() throws {
        let configuration = try loadCanConfiguration()
        let name = interface ?? configuration.can.interface
        var bus = CANBus(messages: configuration.can.messages)
        let reader: SocketCANReader
        do {
            reader = try SocketCANReader(interface: name, identifiers: bus.identifiers)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        print("CAN \(name), \(configuration.can.table.rawValue) table, listen-only: \(bus.messages.map { "\($0.id) every \($0.periodMs) ms" }.joined(separator: ", "))")
        let clock = SystemClock()
        let start = clock.now()
        let end = start + .seconds(seconds)
        var nextRates = start + .seconds(1)
        var countsAtLastRates = bus.frameCounts
        var frames = 0
        readLoop: while clock.now() < end {
            let waitMs = max(0, min((nextRates - clock.now()).milliseconds, (end - clock.now()).milliseconds))
            do {
                if try reader.waitForFrame(milliseconds: Int32(clamping: waitMs)) {
                    while let frame = try reader.read() {
                        let now = clock.now()
                        let outcome = bus.receive(frame, at: now)
                        print(CanText.frame(frame, outcome: outcome, bus: bus, elapsed: now - start))
                        frames += 1
                        if count > 0 && frames >= count { break readLoop }
                    }
                }
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
            let now = clock.now()
            if now >= nextRates {
                print(CanText.rates(bus, since: countsAtLastRates))
                countsAtLastRates = bus.frameCounts
                nextRates = now + .seconds(1)
            }
        }
        let c = bus.counters
        print("\(frames) frames: \(c.decoded) decoded, \(c.short) short, \(c.badChecksum) bad checksum, \(c.unknownID) unknown, \(reader.otherFrames) remote/error/FD")
        if c.decoded == 0 { throw ExitCode(1) }
    }

    private func loadCanConfiguration() throws -> PackGuardConfiguration {
        let path: String
        if let config {
            path = config
        } else if fileExists(defaultConfigurationPath) {
            path = defaultConfigurationPath
        } else {
            print("(\(defaultConfigurationPath) does not exist: using the built-in default configuration)")
            return BuiltInConfiguration.load()
        }
        do {
            return try loadConfiguration(path)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

enum CanText {
    static func frame(_ frame: CANFrame, outcome: CANDecodeOutcome, bus: CANBus, elapsed: Interval) -> String {
        let bytes = frame.data.map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0\(hex)" : hex
        }.joined(separator: " ")
        let head = "\(seconds(elapsed)) \(frame.id) [\(frame.length)] \(bytes)"
        switch outcome {
        case .decoded(let index):
            let fields = bus.messages[index].fields.map { field -> String in
                let value = CANBus.value(of: field, in: frame)
                let text = field.quantity.isFlag ? (value != 0 ? "on" : "off") : formatted(value) + (field.unit.isEmpty ? "" : " \(field.unit)")
                return "\(field.quantity.rawValue) \(text)"
            }
            return "\(head)  \(fields.joined(separator: ", "))"
        case .short:
            let need = bus.index(of: frame.id).map { bus.messages[$0].length } ?? 0
            return "\(head)  IGNORED: too short (the layout needs \(need) bytes)"
        case .badChecksum:
            let need = bus.index(of: frame.id).map { bus.messages[$0].length } ?? 8
            var sum = frame.id.value &+ UInt32(need)
            for byte in 0..<(need - 1) { sum &+= UInt32(frame[byte]) }
            return "\(head)  IGNORED: bad checksum (expected \(String(UInt8(truncatingIfNeeded: sum), radix: 16, uppercase: true)))"
        case .unknownID:
            return "\(head)  IGNORED: not in the table"
        }
    }

    static func rates(_ bus: CANBus, since previous: [Int]) -> String {
        let parts = bus.messages.indices.map { index -> String in
            let message = bus.messages[index]
            return "\(message.id) \(bus.frameCounts[index] - previous[index])/s (expected \(1000 / max(1, message.periodMs))/s)"
        }
        return "rates: " + parts.joined(separator: ", ")
    }

    private static func seconds(_ interval: Interval) -> String {
        let ms = interval.milliseconds
        let fraction = String(ms % 1000)
        return "\(ms / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)s"
    }

    private static func formatted(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int(value)) }
        let hundredths = Int((abs(value) * 100).rounded())
        let fraction = String(hundredths % 100)
        return "\(value < 0 ? "-" : "")\(hundredths / 100).\(fraction.count == 1 ? "0" + fraction : fraction)"
    }
}
