import Logging

/// The control socket in the control loop's poll set: one request line in, one reply line out,
/// handled on the control thread with a short I/O bound so a slow client cannot stall a step.
public final class ControlSocketEndpoint: PollableEndpoint {
    private let server: ControlSocketServer
    private let logger: Logger

    public init(path: String, group: String?, logger: Logger) throws(ControlSocketError) {
        server = try ControlSocketServer(path: path, mode: 0o660, group: group, ioTimeoutMilliseconds: 20)
        self.logger = logger
    }

    public var fileDescriptor: Int32 { server.fileDescriptor }

    public func handleReadable(loop: ControlLoop) {
        do {
            while let connection = try server.acceptRequest() {
                let request: String
                do {
                    request = try connection.readRequest()
                } catch .closedWithoutLine {
                    continue  // a liveness probe (e.g. another instance checking the socket)
                } catch {
                    logger.warning("control socket: \(error)")
                    try connection.reply(ControlCodec.encode(ControlReply(ok: false, error: "\(error)")))
                    continue
                }
                try connection.reply(loop.controller.handle(requestLine: request))
            }
        } catch {
            logger.warning("control socket: \(error)")
        }
    }
}
