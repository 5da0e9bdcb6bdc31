import Glibc
import Testing
@testable import PackGuardDaemon

/// The self-pipe that wakes the control loop and the watchdog monitor: a drain empties it however
/// many wakes piled up (more than its read buffer holds too), and a wake after the drain is seen.
@Suite("Wake pipe")
struct WakePipeTests {
    func readable(_ pipe: WakePipe) -> Bool {
        var entry = pollfd(fd: pipe.readEnd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) == 1
    }

    @Test(arguments: [1, 63, 64, 65, 200])
    func aDrainEmptiesThePipeAndTheNextWakeIsSeen(wakes: Int) throws {
        let pipe = try WakePipe()
        #expect(!readable(pipe))
        for _ in 0..<wakes { pipe.wake() }
        #expect(readable(pipe))
        pipe.drain()
        #expect(!readable(pipe), "\(wakes) wakes drained")
        pipe.drain()  // an empty pipe: returns at once (non-blocking)
        pipe.wake()
        #expect(readable(pipe))
    }
}
