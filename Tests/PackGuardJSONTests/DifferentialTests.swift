import Foundation
import PackGuardJSON
import PropertyBased
import PackGuardTestSupport
import Testing
@testable import PackGuardDaemon

/// A status reply as the daemon sends it: every optional part present, strings that need escapes.
func realisticReply(seed: Int = 1) -> ControlReply {
    var random = SeededGenerator(seed)
    var writer = TreeWriter(random: random)
    let events = (1...25).map { sequence in
        LoggedEvent(sequence: sequence, uptimeMs: Int64(sequence) * 1234, kind: sequence % 3 == 0 ? "control.command" : "fault.raised",
                    reason: "step \(sequence): \"chargeEnable\" went inactive \\ path /run/packguard \(writer.string())")
    }
    let analog = StatusReport.Analog(value: 51.234567, unit: "V", valid: true, reason: nil)
    let invalid = StatusReport.Analog(value: nil, unit: "%", valid: false, reason: "stale: no sample for 1500 ms")
    let latency = StepLatencyReport(buckets: [[0, 900], [64, 80], [1024, 3], [65536, 1]], maxUs: 70000)
    let status = StatusReport(
        state: "running", backend: "libgpiod /dev/gpiochip0", configuration: "/etc/packguard/packguard.yaml",
        uptimeS: 86_400 * 400, steps: Int.random(in: 0...Int.max, using: &random),
        inputs: ["chargeEnable": .init(line: "GPIO17", logical: "active", raw: 0, error: nil),
                 "dischargeEnable": .init(line: "GPIO27", logical: "unread", raw: nil, error: "read failed: EIO (errno 5)"),
                 "multiPurpose": .init(line: "GPIO22", logical: "inactive", raw: 1, error: nil)],
        outputs: ["chargeRelay": .init(line: "GPIO5", logical: "active", raw: 1),
                  "dischargeRelay": .init(line: "GPIO6", logical: "inactive", raw: 0)],
        faults: [.init(code: "F01", description: "charge enable \"lost\"\n(latched)", latched: true),
                 .init(code: "F07", description: "ADC: ☠ over-voltage 😀", latched: false)],
        forceOff: false, balancing: .init(active: true, elapsedS: 3600, remainingS: Int64.max),
        soc: .init(value: 55.5, unit: "%", valid: true, reason: nil),
        precharge: .init(state: "charging", elapsedMs: 120, completion: "busVoltage", busVoltage: analog, packVoltage: invalid),
        chargeCurrentLimit: .init(value: -0.1, unit: "A", valid: true, reason: nil), dischargeCurrentLimit: invalid,
        can: .init(interface: "vcan0", table: "orionDefault", values: ["packCurrentA": -12.3, "soc": 55, "chargeRelay": 1, "packVoltageV": 1e-7],
                   staleMessages: ["0x6B1"], decoded: 120, unknownID: 3, short: 1, badChecksum: 0, readError: nil),
        watchdogs: .init(loopDeadlineMs: 50, internalTrips: 0, systemd: "WATCHDOG=1 every 2500 ms", hardware: "/dev/watchdog0 (softdog)",
                         systemdPets: 99, hardwarePets: nil),
        events: Array(events.suffix(20)), stepLatency: latency, offReaction: StepLatencyReport(buckets: [], maxUs: 0))
    _ = random.next()
    return ControlReply(ok: true, message: "done", status: status, events: events)
}

private let trees = Gen.int(in: 0...Int.max).map { seed -> Tree in
    var writer = TreeWriter(random: SeededGenerator(seed))
    return writer.tree(depth: 4, integral: seed % 2 == 0)
}

@Suite("Differential: PackGuardJSON against Foundation's JSONEncoder/JSONDecoder", .shrinking(false))
struct DifferentialTests {
    @Test func theDaemonsRepliesReadTheSameEitherWay() throws {
        for seed in 1...20 {
            let reply = realisticReply(seed: seed)
            let ours = try JSON.encode(reply)
            #expect(try foundationDecode(ControlReply.self, ours) == reply)
            #expect(try JSON.decode(ControlReply.self, from: ours) == reply)
            #expect(try JSON.decode(ControlReply.self, from: try foundationJSON(reply, escapingSlashes: true)) == reply)
            #expect(ControlCodec.encode(reply) == ours)
            #expect(try ControlCodec.decode(ControlReply.self, from: ours) == reply)
        }
        for request in [ControlRequest(command: .status), ControlRequest(command: .forceOff, on: true), ControlRequest(command: .events, since: 42)] {
            #expect(try JSON.encode(request) == (try foundationJSON(request)))
            #expect(try JSON.decode(ControlRequest.self, from: try foundationJSON(request)) == request)
        }
        #expect(try JSON.encode(ControlRequest(command: .status)) == #"{"command":"status"}"#)
    }

    @Test func aReplyWithoutDoublesIsByteForByteFoundations() throws {
        var reply = realisticReply()
        reply.status?.soc = nil
        reply.status?.precharge = nil
        reply.status?.chargeCurrentLimit = nil
        reply.status?.dischargeCurrentLimit = nil
        reply.status?.can?.values = [:]
        #expect(try JSON.encode(reply) == (try foundationJSON(reply)))
    }

    @Test func generatedValuesReadTheSameEitherWay() async {
        await propertyCheck(count: 1500, input: trees) { tree in
            do {
                let ours = try JSON.encode(tree)
                let theirs = try foundationJSON(tree)
                #expect(try foundationDecode(Tree.self, ours) == tree, "\(ours)")
                #expect(try JSON.decode(Tree.self, from: theirs) == tree, "\(theirs)")
                #expect(try JSON.decode(Tree.self, from: ours) == tree, "\(ours)")
                if tree.isIntegral { #expect(ours == theirs) }
                // Our reader takes all Foundation writes, and reads it as JSONSerialization does.
                #expect(try JSON.parse(theirs) == JSON.parse(ours) || !tree.isIntegral)
            } catch {
                Issue.record("\(error) for \(tree)")
            }
        }
    }

    @Test func theGeneratedValuesAreVaried() throws {
        var writer = TreeWriter(random: SeededGenerator(3))
        let texts = try (0..<300).map { _ in try JSON.encode(writer.tree(depth: 4, integral: false)) }.joined()
        for piece in [#"\""#, #"\\"#, #"\u0000"#, #"\n"#, "😀", "e\u{301}", "{", "[", "e-", "null", "true"] {
            #expect(texts.contains(piece), "\(piece)")
        }
    }
}

@Suite("Hostile input: truncations and mutations never crash")
struct HostileInputTests {
    @Test func everyTruncationIsRefusedWithinItsLength() throws {
        let text = Array(try JSON.encode(realisticReply()).utf8)
        for length in 0..<text.count {
            let prefix = Array(text[..<length])
            let error = try #require(parseError(bytes: prefix), "a truncation at \(length) parsed")
            #expect(error.offset <= length)
            #expect(throws: DecodingError.self) { try JSON.decode(ControlReply.self, from: prefix) }
        }
    }

    @Test func mutatedDocumentsDecodeOrThrow() async {
        let text = Array(ControlCodec.encode(realisticReply()).utf8)
        let special: [UInt8] = Array("{}[]\",:\\ 0-eE.tfnu".utf8) + [0, 0x1F, 0x7F, 0x80, 0xC3, 0xED, 0xF4, 0xFF]
        let mutants = Gen.int(in: 0...Int.max).map { seed -> [UInt8] in
            var random = SeededGenerator(seed)
            var bytes = text
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                let byte = Bool.random(using: &random) ? special.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = byte
                case 1: bytes.insert(byte, at: at)
                default: bytes.remove(at: at)
                }
            }
            return bytes
        }
        await propertyCheck(count: 3000, input: mutants) { bytes in
            let parsed = parseError(bytes: bytes) == nil
            do {
                _ = try JSON.decode(ControlReply.self, from: bytes)
                #expect(parsed)
            } catch let error as DecodingError {
                if case .dataCorrupted(let context) = error, context.underlyingError is JSONParseError { #expect(!parsed) }
            } catch {
                Issue.record("not a DecodingError: \(error)")
            }
            // What we accept, Foundation accepts too, unless it holds a number beyond Double's range (valid
            // RFC 8259 syntax that JSONSerialization refuses; we refuse it when decoding a field).
            if parsed, let value = try? JSON.parse(bytes), !hasHugeNumber(value) {
                #expect((try? JSONSerialization.jsonObject(with: Data(bytes))) != nil, "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }
}

private func hasHugeNumber(_ value: JSONValue) -> Bool {
    switch value {
    case .number(let number): !number.double.isFinite
    case .array(let elements): elements.contains(where: hasHugeNumber)
    case .object(let members): members.values.contains(where: hasHugeNumber)
    default: false
    }
}
