// A register-accurate ADS1115 on a simulated I2C bus, for tests and `--simulate`.
import Synchronization

/// Faults the simulated ADS1115 can be told to show.
public enum SimulatedADS1115Fault: Sendable, Hashable, CaseIterable {
    /// The device does not acknowledge its address: every transfer fails with ENXIO.
    case noAcknowledge
    /// Every transfer fails with EIO (noise, a short, a confused adapter).
    case ioError
    /// A started conversion never finishes: OS reads 0 forever.
    case stuckBusy
    /// The device acknowledges writes but ignores them: no new conversions, every register keeps its
    /// value, so the conversion register repeats its last result.
    case frozen
}

/// An ADS1115 modelled at register level: config bits, OS bit, single-shot conversions, conversion
/// register. Conversions finish after `busyReadsPerConversion` config reads, not after wall time, so
/// tests are deterministic. Thread-safe.
public final class SimulatedADS1115: Sendable {
    private struct State {
        var config: UInt16 = 0x8583  // power-on default
        var conversion: UInt16 = 0
        var lowThreshold: UInt16 = 0x8000
        var highThreshold: UInt16 = 0x7FFF
        var busyReadsLeft = 0
        var inputVolts: [Double] = [0, 0, 0, 0]
        var faults: Set<SimulatedADS1115Fault> = []
        var busyReadsPerConversion: Int
        var conversionsStarted = 0
        var configWrites: [UInt16] = []
    }

    public let address: UInt8
    private let state: Mutex<State>

    /// `busyReadsPerConversion`: how many config reads after a start still show OS = 0.
    public init(address: UInt8 = 0x48, busyReadsPerConversion: Int = 1) {
        self.address = address
        state = Mutex(State(busyReadsPerConversion: max(0, busyReadsPerConversion)))
    }

    /// Sets the voltage at input AIN`channel` (0...3), at the ADS1115 pin (after any divider).
    public func setInputVolts(_ volts: Double, channel: Int) {
        precondition((0...3).contains(channel), "the ADS1115 has AIN0...AIN3")
        state.withLock { $0.inputVolts[channel] = volts }
    }

    public func inputVolts(channel: Int) -> Double {
        state.withLock { $0.inputVolts[channel] }
    }

    public func setBusyReadsPerConversion(_ reads: Int) {
        state.withLock { $0.busyReadsPerConversion = max(0, reads) }
    }

    public func inject(_ fault: SimulatedADS1115Fault) {
        state.withLock { $0.faults.formUnion([fault]) }
    }

    public func clear(_ fault: SimulatedADS1115Fault) {
        state.withLock { $0.faults.subtract([fault]) }
    }

    public func clearAllFaults() {
        state.withLock { $0.faults.removeAll() }
    }

    public var faults: Set<SimulatedADS1115Fault> { state.withLock { $0.faults } }

    /// A register's value in device order (bit 15 first on the wire); OS reflects the conversion state.
    public func registerValue(_ register: ADS1115Register) -> UInt16 {
        state.withLock { Self.value(of: register, in: $0) }
    }

    public var conversionsStarted: Int { state.withLock { $0.conversionsStarted } }

    /// Every value written to the config register, in device order, oldest first.
    public var configWrites: [UInt16] { state.withLock { $0.configWrites } }

    /// One register read as the I2C slave sees it; errno on failure.
    func read(register: UInt8) -> Result<UInt16, TransferFailure> {
        state.withLock { state in
            if let failure = Self.transferFailure(state) { return .failure(failure) }
            guard let register = ADS1115Register(rawValue: register) else { return .failure(.unknownRegister) }
            let value = Self.value(of: register, in: state)
            if register == .config, state.busyReadsLeft > 0, !state.faults.contains(.stuckBusy) {
                state.busyReadsLeft -= 1
                if state.busyReadsLeft == 0 { Self.finishConversion(&state) }
            }
            return .success(value)
        }
    }

    /// One register write as the I2C slave sees it; errno on failure.
    func write(register: UInt8, value: UInt16) -> TransferFailure? {
        state.withLock { state in
            if let failure = Self.transferFailure(state) { return failure }
            guard let register = ADS1115Register(rawValue: register) else { return .unknownRegister }
            if state.faults.contains(.frozen) { return nil }
            switch register {
            case .conversion:
                break  // read-only: the chip acknowledges and ignores the data
            case .config:
                state.configWrites.append(value)
                let converting = state.busyReadsLeft > 0
                state.config = value & ~ADS1115Config.operationalStatusBit
                let singleShot = value & ADS1115Config.singleShotModeBit != 0
                if !singleShot {
                    // Continuous mode is not modelled in time: the register simply follows the input.
                    Self.finishConversion(&state)
                } else if value & ADS1115Config.operationalStatusBit != 0, !converting {
                    state.conversionsStarted += 1
                    state.busyReadsLeft = state.busyReadsPerConversion
                    if state.busyReadsLeft == 0 { Self.finishConversion(&state) }
                }
            case .lowThreshold:
                state.lowThreshold = value
            case .highThreshold:
                state.highThreshold = value
            }
            return nil
        }
    }

    enum TransferFailure: Error {
        case noAcknowledge, ioError, unknownRegister

        var errno: Int32 {
            switch self {
            case .noAcknowledge: LinuxErrno.ENXIO
            case .ioError, .unknownRegister: LinuxErrno.EIO
            }
        }
    }

    private static func transferFailure(_ state: State) -> TransferFailure? {
        if state.faults.contains(.noAcknowledge) { return .noAcknowledge }
        if state.faults.contains(.ioError) { return .ioError }
        return nil
    }

    private static func value(of register: ADS1115Register, in state: State) -> UInt16 {
        switch register {
        case .conversion: state.conversion
        case .config: state.config | (state.busyReadsLeft > 0 ? 0 : ADS1115Config.operationalStatusBit)
        case .lowThreshold: state.lowThreshold
        case .highThreshold: state.highThreshold
        }
    }

    /// Converts the inputs selected by the config register with its PGA into the conversion register.
    private static func finishConversion(_ state: inout State) {
        let mux = ADS1115Mux(bits: state.config >> 12)
        let gain = ADS1115Gain(bits: state.config >> 9)
        let (positive, negative) = mux.inputs
        let volts = state.inputVolts[positive] - (negative.map { state.inputVolts[$0] } ?? 0)
        state.conversion = UInt16(bitPattern: gain.code(forVolts: volts))
        state.busyReadsLeft = 0
    }
}

/// A simulated I2C bus, opened for one address, carrying simulated ADS1115s. Converts register values
/// to SMBus words exactly as a real bus does (first byte on the wire = low byte), so the driver's byte
/// swapping is exercised. An address with no device answers nothing (ENXIO).
public final class SimulatedI2CBus: I2CBus {
    public let path: String
    public let address: UInt8
    private let device: SimulatedADS1115?

    public init(path: String = "/dev/i2c-1", address: UInt8 = 0x48, devices: [SimulatedADS1115]) {
        self.path = path
        self.address = address
        device = devices.first { $0.address == address }
    }

    public func smbusReadWord(register: UInt8) throws(I2CError) -> UInt16 {
        let result = device.map { $0.read(register: register) } ?? .failure(.noAcknowledge)
        switch result {
        case .success(let value):
            return ADS1115ByteOrder.smbusWord(fromRegisterValue: value)
        case .failure(let failure):
            throw I2CError(operation: .readWord, busPath: path, address: address, register: register, errno: failure.errno)
        }
    }

    public func smbusWriteWord(register: UInt8, word: UInt16) throws(I2CError) {
        let value = ADS1115ByteOrder.registerValue(fromSMBusWord: word)
        let failure = device.map { $0.write(register: register, value: value) } ?? .noAcknowledge
        if let failure {
            throw I2CError(operation: .writeWord, busPath: path, address: address, register: register, errno: failure.errno)
        }
    }
}
