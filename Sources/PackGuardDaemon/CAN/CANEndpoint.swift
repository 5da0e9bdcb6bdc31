import Glibc
import Logging
import PackGuardCAN
import PackGuardCore

/// The listen-only CAN socket in the control loop's poll set. Each wake reads what is waiting,
/// within a frame and time budget, and hands every frame to the controller; the policy judges the
/// values at the next step. A flood costs a bounded slice of each wake, never a step.
public final class CANEndpoint: PollableEndpoint {
    public struct Limits: Sendable {
        public var maxFramesPerWake = 256
        public var maxServiceTime: Interval = .milliseconds(5)
        /// After a read error the socket leaves the poll set this long (an interface that went
        /// down would otherwise wake the loop without end).
        public var errorBackoff: Interval = .seconds(1)

        public init() {}
    }

    private let reader: SocketCANReader
    private let logger: Logger
    public let limits: Limits
    public private(set) var pollGeneration = 0
    public private(set) var nextDeadline: Instant?
    private var backingOff = false

    public init(reader: SocketCANReader, limits: Limits = Limits(), logger: Logger) {
        self.reader = reader
        self.limits = limits
        self.logger = logger
    }

    public func appendPollDescriptors(to set: inout [pollfd]) {
        guard !backingOff else { return }
        set.append(pollfd(fd: reader.fileDescriptor, events: Int16(POLLIN), revents: 0))
    }

    public func service(ready: ArraySlice<pollfd>, loop: ControlLoop, now: Instant, stepDue: Instant) {
        let controller = loop.controller
        if backingOff {
            guard let deadline = nextDeadline, now >= deadline else { return }
            backingOff = false
            nextDeadline = nil
            pollGeneration &+= 1
        }
        let budgetEnd = min(stepDue, now + limits.maxServiceTime)
        for count in 0..<limits.maxFramesPerWake {
            // The clock is read every 32 frames: cheap, and a flood still yields within budget.
            if count % 32 == 31 && controller.clock.now() >= budgetEnd { break }
            do {
                guard let frame = try reader.read() else { break }
                controller.receiveCAN(frame, at: now)
                if controller.canReadError != nil {
                    controller.canReadError = nil
                    logger.notice("CAN \(reader.interface): frames readable again")
                }
            } catch {
                if controller.canReadError == nil { logger.error("\(error); retrying every \(limits.errorBackoff)") }
                controller.canReadError = error.description
                backingOff = true
                nextDeadline = now + limits.errorBackoff
                pollGeneration &+= 1
                return
            }
        }
    }
}
