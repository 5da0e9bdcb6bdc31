// Every libmosquitto call of PackGuard is in this file; MosquittoClient owns the one handle.
import CMosquitto
import Glibc
import Synchronization

/// Where and how to reach the broker.
public struct MQTTConnectionSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var tls: Bool
    /// CA file for TLS; nil means the system's certificates (/etc/ssl/certs).
    public var caFile: String?
    public var username: String?
    public var password: String?
    public var clientID: String
    public var keepaliveS: Int
    /// Retained "offline" on this topic is the Last Will: the broker publishes it when the client
    /// vanishes without a clean disconnect (SIGKILL, crash, network gone).
    public var willTopic: String
    public var willPayload: String
    /// Telemetry uses a clean session (it republishes its retained state on every connection);
    /// a durable one (false) keeps subscriptions and queued messages across reconnects.
    public var cleanSession: Bool

    public init(host: String, port: Int, tls: Bool = false, caFile: String? = nil, username: String? = nil,
                password: String? = nil, clientID: String, keepaliveS: Int = 30, willTopic: String,
                willPayload: String = "offline", cleanSession: Bool = true) {
        self.cleanSession = cleanSession
        self.host = host
        self.port = port
        self.tls = tls
        self.caFile = caFile
        self.username = username
        self.password = password
        self.clientID = clientID
        self.keepaliveS = keepaliveS
        self.willTopic = willTopic
        self.willPayload = willPayload
    }
}

/// A libmosquitto call that failed: the operation and the library's own words for the code.
public struct MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var code: Int32
    public var text: String

    public var description: String { "mosquitto \(operation) failed: \(text) (code \(code))" }
}

/// What became of one publish.
public enum PublishOutcome: Sendable, Equatable {
    /// Handed to libmosquitto with this message id (QoS 1: acknowledged later, resent after a reconnect).
    case handedOver(messageID: Int32)
    /// No connection now: the caller keeps the message.
    case notConnected
    case failed(MQTTError)
}

/// One incoming message (the force-off button's command topic).
public struct MQTTMessage: Sendable, Equatable {
    public var topic: String
    public var payload: String
}

/// The one owner of a libmosquitto handle. libmosquitto's own thread (loop_start) does all network
/// I/O and reconnects with exponential backoff; `publish` only queues inside the library under its
/// mutex, so no caller ever waits on the network.
public final class MosquittoClient: @unchecked Sendable {
    // @unchecked: `handle` is used through libmosquitto's thread-safe API (built with threads);
    // everything the callbacks touch is in `state`, a Mutex.

    /// Connection facts the callbacks record (libmosquitto's thread) for the telemetry loop to read.
    public struct ConnectionState: Sendable, Equatable {
        public var connected = false
        /// Counts successful connections: a new value means retained topics must be sent again
        /// (a restarted broker without persistence has lost them).
        public var connections = 0
        public var lastError: String?
        /// QoS 1 messages acknowledged by the broker.
        public var acknowledged = 0
        /// QoS 1 messages handed over and not yet acknowledged.
        public var pendingAcks: Set<Int32> = []
        var earlyAcks: Set<Int32> = []
        var messages: [MQTTMessage] = []
    }

    final class Shared: Sendable {
        let state = Mutex(ConnectionState())
        let messageLimit: Int
        init(messageLimit: Int) { self.messageLimit = messageLimit }
    }

    private static let libraryReady: Int32 = mosquitto_lib_init()

    private let handle: OpaquePointer
    private let shared: Shared
    public let settings: MQTTConnectionSettings
    private var started = false

    /// `messageLimit`: received messages kept until `takeMessages` (the oldest go first).
    public init(settings: MQTTConnectionSettings, messageLimit: Int = 16) throws(MQTTError) {
        shared = Shared(messageLimit: messageLimit)
        guard Self.libraryReady == MOSQ_ERR_SUCCESS.rawValue else {
            throw Self.error("lib_init", Self.libraryReady)
        }
        self.settings = settings
        let context = Unmanaged.passUnretained(shared).toOpaque()
        guard let created = mosquitto_new(settings.clientID, settings.cleanSession, context) else {
            throw MQTTError(operation: "new", code: errno, text: String(cString: strerror(errno)))
        }
        handle = created
        do throws(MQTTError) {
            try check("int_option(protocol 3.1.1)",
                      mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, Int32(MQTT_PROTOCOL_V311)))
            try check("reconnect_delay_set", mosquitto_reconnect_delay_set(handle, 1, 30, true))
            let will = Array(settings.willPayload.utf8)
            try check("will_set", mosquitto_will_set(handle, settings.willTopic, Int32(will.count), will, 1, true))
            if let username = settings.username {
                try check("username_pw_set", mosquitto_username_pw_set(handle, username, settings.password))
            }
            if settings.tls {
                let capath: String? = settings.caFile == nil ? "/etc/ssl/certs" : nil
                try check("tls_set", mosquitto_tls_set(handle, settings.caFile, capath, nil, nil, nil))
            }
        } catch {
            mosquitto_destroy(handle)
            throw error
        }
        mosquitto_connect_callback_set(handle) { _, context, code in
            let shared = Unmanaged<MosquittoClient.Shared>.fromOpaque(context!).takeUnretainedValue()
            shared.state.withLock { state in
                if code == 0 {
                    state.connected = true
                    state.connections += 1
                    state.lastError = nil
                } else {
                    state.lastError = "connection refused: \(String(cString: mosquitto_connack_string(code)))"
                }
            }
        }
        mosquitto_disconnect_callback_set(handle) { _, context, code in
            let shared = Unmanaged<MosquittoClient.Shared>.fromOpaque(context!).takeUnretainedValue()
            shared.state.withLock { state in
                state.connected = false
                if code != 0 { state.lastError = "connection lost: \(String(cString: mosquitto_strerror(code)))" }
            }
        }
        mosquitto_publish_callback_set(handle) { _, context, messageID in
            let shared = Unmanaged<MosquittoClient.Shared>.fromOpaque(context!).takeUnretainedValue()
            shared.state.withLock { state in
                state.acknowledged += 1
                if state.pendingAcks.remove(messageID) == nil { state.earlyAcks.insert(messageID) }
            }
        }
        mosquitto_message_callback_set(handle) { _, context, message in
            guard let context, let message, let topic = message.pointee.topic else { return }
            let shared = Unmanaged<MosquittoClient.Shared>.fromOpaque(context).takeUnretainedValue()
            let length = Int(message.pointee.payloadlen)
            let payload: String
            if let bytes = message.pointee.payload, length > 0 {
                payload = String(decoding: UnsafeRawBufferPointer(start: bytes, count: length), as: UTF8.self)
            } else {
                payload = ""
            }
            let received = MQTTMessage(topic: String(cString: topic), payload: payload)
            // Bounded: telemetry subscribes only to the button's topic; a flood of presses keeps the last few.
            shared.state.withLock { state in
                state.messages.append(received)
                if state.messages.count > shared.messageLimit { state.messages.removeFirst(state.messages.count - shared.messageLimit) }
            }
        }
    }

    deinit {
        if started {
            // A clean disconnect (no Last Will), then the library's thread ends.
            _ = mosquitto_disconnect(handle)
            _ = mosquitto_loop_stop(handle, false)
        }
        mosquitto_destroy(handle)
    }

    /// Starts libmosquitto's network thread. A broker that is down now is not an error: the thread
    /// keeps reconnecting with backoff (1 s doubling to 30 s).
    public func start() throws(MQTTError) {
        precondition(!started, "start once")
        let code = mosquitto_connect_async(handle, settings.host, Int32(settings.port), Int32(settings.keepaliveS))
        if code != MOSQ_ERR_SUCCESS.rawValue {
            let text = code == MOSQ_ERR_ERRNO.rawValue ? String(cString: strerror(errno)) : Self.text(code)
            shared.state.withLock { $0.lastError = "first connection attempt failed: \(text)" }
        }
        try check("loop_start", mosquitto_loop_start(handle))
        started = true
    }

    public var state: ConnectionState { shared.state.withLock { $0 } }

    /// Queues one message in libmosquitto. Only while connected, so that what the broker cannot
    /// take stays in the caller's bounded queue, not in the library's unbounded one.
    public func publish(topic: String, payload: String, qos: Int32, retain: Bool) -> PublishOutcome {
        guard shared.state.withLock({ $0.connected }) else { return .notConnected }
        let bytes = Array(payload.utf8)
        var messageID: Int32 = 0
        // Not under our lock: libmosquitto's thread takes its own locks and then calls ours.
        let code = mosquitto_publish(handle, &messageID, topic, Int32(bytes.count), bytes, qos, retain)
        if code == MOSQ_ERR_SUCCESS.rawValue {
            if qos > 0 {
                // The acknowledgement may already have come (then it is in `earlyAcks`).
                shared.state.withLock { state in
                    if state.earlyAcks.remove(messageID) == nil { state.pendingAcks.insert(messageID) }
                }
            }
            return .handedOver(messageID: messageID)
        }
        if code == MOSQ_ERR_NO_CONN.rawValue { return .notConnected }
        return .failed(Self.error("publish \(topic)", code))
    }

    /// Subscribes (again after each reconnect: the session is clean).
    public func subscribe(topic: String) -> MQTTError? {
        let code = mosquitto_subscribe(handle, nil, topic, 1)
        return code == MOSQ_ERR_SUCCESS.rawValue ? nil : Self.error("subscribe \(topic)", code)
    }

    /// Messages received since the last call.
    public func takeMessages() -> [MQTTMessage] {
        shared.state.withLock { state in
            defer { state.messages.removeAll() }
            return state.messages
        }
    }

    /// Waits (bounded) until the broker has acknowledged everything handed over, or the connection
    /// is gone: for a clean shutdown, so the retained "offline" is out before the disconnect.
    public func flush(waitingUpTo milliseconds: Int) {
        guard started else { return }
        var waited = 0
        while waited < milliseconds, !shared.state.withLock({ $0.pendingAcks.isEmpty || !$0.connected }) {
            usleep(10_000)
            waited += 10
        }
    }

    private func check(_ operation: String, _ code: Int32) throws(MQTTError) {
        guard code == MOSQ_ERR_SUCCESS.rawValue else { throw Self.error(operation, code) }
    }

    private static func error(_ operation: String, _ code: Int32) -> MQTTError {
        MQTTError(operation: operation, code: code, text: text(code))
    }

    private static func text(_ code: Int32) -> String { String(cString: mosquitto_strerror(code)) }
}
