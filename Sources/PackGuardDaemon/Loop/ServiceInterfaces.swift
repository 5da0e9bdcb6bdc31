/// What the control loop needs from the service manager (systemd's sd_notify), so that the
/// loop can be tested with a recorder.
public protocol ServiceNotifier: Sendable {
    /// The interval at which WATCHDOG=1 is expected, in nanoseconds, or nil when not requested.
    var watchdogIntervalNanoseconds: UInt64? { get }
    func notify(_ fields: [String]) throws
}

/// A watchdog device the loop pets after healthy steps and disarms on a clean stop.
public protocol WatchdogDevice: AnyObject, Sendable {
    var description: String { get }
    func pet() throws
    func disarm() throws
}
