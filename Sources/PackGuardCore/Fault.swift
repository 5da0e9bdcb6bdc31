/// Why the policy is holding relays open. Transient faults clear when their cause clears;
/// latched faults stay until an operator reset.
public enum Fault: Sendable, Hashable, CustomStringConvertible {
    case inputReadError(InputSignal)
    case inputStale(InputSignal)
    case outputWriteError
    case loopDeadlineMissed
    case socInvalid
    case chatter(Contactor)
    case welded(Contactor)
    case failedToClose(Contactor)
    /// The precharge did not reach its target in time, or was tried too often.
    case prechargeFailed
    /// Current through a relay commanded open, seen on CAN (a welded contactor): every relay opens.
    case currentWhileOpen
    /// The BMS's relay bit over CAN disagrees with its wired enable: that relay opens.
    case bmsDisagrees(Contactor)
    /// A configured CAN message has not arrived for `can.staleMs`.
    case canStale

    public var isLatched: Bool {
        switch self {
        case .chatter, .welded, .failedToClose, .prechargeFailed, .currentWhileOpen: true
        case .inputReadError, .inputStale, .outputWriteError, .loopDeadlineMissed, .socInvalid,
             .bmsDisagrees, .canStale: false
        }
    }

    /// Short machine-friendly code, as shown in status JSON.
    public var code: String {
        switch self {
        case .inputReadError(let s): "inputReadError:\(s.rawValue)"
        case .inputStale(let s): "inputStale:\(s.rawValue)"
        case .outputWriteError: "outputWriteError"
        case .loopDeadlineMissed: "watchdog"
        case .socInvalid: "socInvalid"
        case .chatter(let c): "chatter:\(c.rawValue)"
        case .welded(let c): "welded:\(c.rawValue)"
        case .failedToClose(let c): "failedToClose:\(c.rawValue)"
        case .prechargeFailed: "prechargeFailed"
        case .currentWhileOpen: "currentWhileOpen"
        case .bmsDisagrees(let c): "bmsDisagrees:\(c.rawValue)"
        case .canStale: "canStale"
        }
    }

    public var description: String {
        switch self {
        case .inputReadError(let s): "read error on \(s)"
        case .inputStale(let s): "\(s) not read recently (stale)"
        case .outputWriteError: "an output could not be written"
        case .loopDeadlineMissed: "control loop missed its deadline (internal watchdog)"
        case .socInvalid: "state of charge reading invalid"
        case .chatter(let c): "\(c) relay chattering (locked out)"
        case .welded(let c): "\(c) contactor welded (feedback closed while commanded open)"
        case .failedToClose(let c): "\(c) contactor failed to close (feedback open while commanded closed)"
        case .prechargeFailed: "precharge failed (latched: a short, a failed resistor, or a load already on the bus)"
        case .currentWhileOpen: "current through a contactor commanded open (latched: a welded contactor seen by current)"
        case .bmsDisagrees(let c): "the BMS's \(c) relay bit over CAN disagrees with \(c.enable)"
        case .canStale: "CAN data from the BMS stale"
        }
    }
}
