// The ADS1115 driver against a recording bus and the simulated ADS1115.
import Synchronization
import Testing
@testable import PackGuardADC

/// Answers reads with fixed SMBus words and records writes, to check the driver's byte order on its own.
private final class RecordingBus: I2CBus {
    let path = "/dev/i2c-1"
    let address: UInt8 = 0x48
    private let state = Mutex<(words: [UInt8: UInt16], writes: [(register: UInt8, word: UInt16)])>((words: [:], writes: []))

    init(words: [UInt8: UInt16]) { state.withLock { $0.words = words } }

    var writes: [(register: UInt8, word: UInt16)] { state.withLock { $0.writes } }

    func smbusReadWord(register: UInt8) throws(I2CError) -> UInt16 {
        let word = state.withLock { $0.words[register] }
        guard let word else {
            throw I2CError(operation: .readWord, busPath: path, address: address, register: register, errno: LinuxErrno.EIO)
        }
        return word
    }

    func smbusWriteWord(register: UInt8, word: UInt16) throws(I2CError) {
        state.withLock { $0.writes.append((register, word)) }
    }
}

private func makeDevice(
    busyReads: Int = 1, address: UInt8 = 0x48, clock: ManualADCClock = ManualADCClock()
) -> (SimulatedADS1115, ADS1115) {
    let chip = SimulatedADS1115(address: 0x48, busyReadsPerConversion: busyReads)
    let bus = SimulatedI2CBus(path: "/dev/i2c-1", address: address, devices: [chip])
    return (chip, ADS1115(bus: bus, gain: .fullScale4_096V, dataRate: .sps128, clock: clock))
}

@Suite("ADS1115 driver")
struct DriverTests {
    @Test("config goes out as an LSB-first SMBus word; the conversion comes back swapped")
    func byteOrderOnTheBus() throws {
        // Config read: wire bytes 0xC3 0x83 (idle, AIN0) arrive as SMBus word 0x83C3.
        // Conversion: wire bytes 0x12 0x34 arrive as 0x3412 and mean code 0x1234.
        let bus = RecordingBus(words: [0x01: 0x83C3, 0x00: 0x3412])
        var device = ADS1115(bus: bus, gain: .fullScale4_096V, dataRate: .sps128, clock: ManualADCClock())
        let code = try device.convert(.ain0)
        #expect(code == 0x1234)
        #expect(bus.writes.count == 1)
        #expect(bus.writes.first?.register == 0x01)
        #expect(bus.writes.first?.word == 0x83C3)
    }

    @Test("a negative code survives the swap")
    func negativeCodeByteOrder() throws {
        let bus = RecordingBus(words: [0x01: 0x83C3, 0x00: 0xFEFF])  // wire 0xFF 0xFE = -2
        var device = ADS1115(bus: bus, gain: .fullScale4_096V, dataRate: .sps128, clock: ManualADCClock())
        #expect(try device.convert(.ain0) == -2)
    }

    @Test("each channel converts its own input")
    func channels() throws {
        var (chip, device) = makeDevice()
        for channel in 0...3 { chip.setInputVolts(0.5 + Double(channel), channel: channel) }
        #expect(try device.convert(.ain0) == 4000)
        #expect(try device.convert(.ain1) == 12000)
        #expect(try device.convert(.ain2) == 20000)
        #expect(try device.convert(.ain3) == 28000)
        #expect(try device.convert(.ain0MinusAin3) == -24000)
        #expect(chip.conversionsStarted == 5)
    }

    @Test("a negative input gives a negative code")
    func negativeInput() throws {
        var (chip, device) = makeDevice()
        chip.setInputVolts(-0.1, channel: 1)
        #expect(try device.convert(.ain1) == -800)
    }

    @Test("the driver waits the conversion time, then polls OS until it reads 1")
    func pollsUntilIdle() throws {
        let clock = ManualADCClock()
        var (chip, device) = makeDevice(busyReads: 3, clock: clock)
        chip.setInputVolts(1, channel: 0)
        #expect(try device.convert(.ain0) == 8000)
        #expect(clock.sleepCount == 4)  // the conversion time, then one poll interval per busy read
        #expect(clock.now == 7_812_500 + 3 * device.pollIntervalNanoseconds)
    }

    @Test("the conversion register changes only when the conversion finishes")
    func conversionRegisterTiming() throws {
        let chip = SimulatedADS1115(busyReadsPerConversion: 2)
        let bus = SimulatedI2CBus(devices: [chip])
        chip.setInputVolts(2.048, channel: 0)
        try bus.smbusWriteWord(register: 0x01, word: ADS1115ByteOrder.smbusWord(fromRegisterValue: 0xC383))
        #expect(chip.registerValue(.conversion) == 0)
        #expect(try bus.smbusReadWord(register: 0x01) == 0x8343)  // OS = 0: converting
        #expect(try bus.smbusReadWord(register: 0x01) == 0x8343)
        #expect(try bus.smbusReadWord(register: 0x01) == 0x83C3)  // OS = 1: done
        #expect(chip.registerValue(.conversion) == 0x4000)
        #expect(chip.configWrites == [0xC383])
    }

    @Test("a stuck OS bit ends in a timeout after 2 × conversion time + 2 ms, not a hang")
    func stuckBusyTimesOut() {
        let clock = ManualADCClock()
        var (chip, device) = makeDevice(clock: clock)
        chip.inject(.stuckBusy)
        #expect {
            try device.convert(.ain2)
        } throws: { error in
            guard case .conversionTimeout(let path, let address, let mux, let waited) = error as? ADS1115Error else {
                return false
            }
            return path == "/dev/i2c-1" && address == 0x48 && mux == .ain2 && waited >= 17_625_000
                && waited < 17_625_000 + device.pollIntervalNanoseconds
        }
        #expect(clock.now < 17_625_000 + device.pollIntervalNanoseconds)
    }

    @Test("the OS wait is bounded even when the clock never advances")
    func stuckBusyWithStoppedClock() {
        let clock = ManualADCClock(sleepAdvancesTime: false)
        var (chip, device) = makeDevice(clock: clock)
        chip.inject(.stuckBusy)
        #expect(throws: ADS1115Error.self) { try device.convert(.ain0) }
        #expect(clock.sleepCount == device.maximumPolls)
    }

    @Test("a frozen device is caught by the config read-back, even on the same channel twice")
    func frozenDevice() throws {
        var (chip, device) = makeDevice()
        chip.setInputVolts(1, channel: 0)
        #expect(try device.convert(.ain0) == 8000)
        chip.inject(.frozen)
        chip.setInputVolts(2, channel: 0)
        #expect {
            try device.convert(.ain0)
        } throws: { error in
            guard case .configNotAccepted(_, _, let wrote, let readBack) = error as? ADS1115Error else { return false }
            return wrote == 0xC387 && readBack == 0xC383
        }
    }

    @Test("no acknowledge names address, bus and the fix")
    func noAcknowledge() {
        var (chip, device) = makeDevice()
        chip.inject(.noAcknowledge)
        #expect {
            try device.convert(.ain0)
        } throws: { error in
            guard case .transfer(let transfer) = error as? ADS1115Error else { return false }
            return transfer.isNoAnswer && transfer.operation == .writeWord && transfer.register == 0x01
                && transfer.errno == LinuxErrno.ENXIO
                && "\(transfer)".hasPrefix("nothing answers at 0x48 on /dev/i2c-1")
                && "\(transfer)".contains("`dtparam=i2c_arm=on`")
        }
    }

    @Test("no device at the address answers nothing")
    func wrongAddress() {
        var (_, device) = makeDevice(address: 0x49)
        #expect {
            try device.convert(.ain0)
        } throws: { error in
            "\(error)".hasPrefix("nothing answers at 0x49 on /dev/i2c-1")
        }
    }

    @Test("EIO names the operation, register and errno")
    func ioError() throws {
        var (chip, device) = makeDevice()
        chip.inject(.ioError)
        #expect {
            try device.convert(.ain0)
        } throws: { error in
            "\(error)" == "write word failed at 0x48 on /dev/i2c-1, register 0x01 (input/output error, EIO)"
        }
        chip.clear(.ioError)
        #expect(try device.convert(.ain0) == 0)
    }

    @Test("fault injection is a set")
    func faultSet() {
        let chip = SimulatedADS1115()
        chip.inject(.frozen)
        chip.inject(.ioError)
        chip.clear(.frozen)
        #expect(chip.faults == [.ioError])
        chip.clearAllFaults()
        #expect(chip.faults.isEmpty)
    }

    @Test("timeout and read-back messages")
    func messages() {
        let timeout = ADS1115Error.conversionTimeout(
            busPath: "/dev/i2c-1", address: 0x48, mux: .ain1, waitedNanoseconds: 17_700_000)
        #expect(
            "\(timeout)"
                == "ADS1115 at 0x48 on /dev/i2c-1: conversion of AIN1 not finished after 17.7 ms "
                + "(OS bit of register 0x01 stayed 0)")
        let frozen = ADS1115Error.configNotAccepted(busPath: "/dev/i2c-1", address: 0x48, wrote: 0xC387, readBack: 0xC383)
        #expect("\(frozen)".contains("read back 0xC383 after writing 0xC387"))
    }
}
