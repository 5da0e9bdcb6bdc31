import Glibc
import PackGuardCore

/// The outside world of Linux's gpio-sim chips (the configfs GPIO simulator), through the sysfs
/// attributes gpio-sim gives every line: `<chip device>/sim_gpio<offset>/pull` and `…/value`.
/// Used by the real-kernel rig (rig/) to run `GPIOContract` against libgpiod on a real kernel.
///
/// - `drive(.high)` writes `pull-up`, `drive(.low)` writes `pull-down`: gpio-sim models "what the
///   outside drives" as the line's simulated pull.
/// - `drive(.floating)` writes `pull-down`. gpio-sim has no floating state; pull-down is what a
///   Raspberry Pi's GPIO 9–27 have from reset and what the relay drivers' gate resistors give.
/// - A bias requested through the character device overwrites the simulated pull (gpio-sim applies
///   it as the pull), so drive a line after the request that set its bias.
/// - `physicalLevel` reads `value`: the level the line's owner drives (an output), or the pull (an
///   input, or a line nobody holds; on release gpio-sim sets the value back to the pull).
public struct GPIOSimWorld: GPIOTestWorld {
    /// Line name → the line's sysfs attribute directory.
    public let lineDirectories: [String: String]

    /// Resolves each of `lines` by name through `backend` and finds its gpio-sim attributes under
    /// `sysfsGPIODevices/<chip name>/sim_gpio<offset>`. Throws when a line is missing or its chip
    /// is not a gpio-sim chip.
    public init(lines: [String], backend: any GPIOBackend = LibgpiodBackend(),
                sysfsGPIODevices: String = "/sys/bus/gpio/devices") throws {
        let resolver = try LineResolver(backend: backend)
        var directories: [String: String] = [:]
        for name in lines {
            let found = try resolver.resolve(.name(name))
            let directory = "\(sysfsGPIODevices)/\(found.chip.name)/sim_gpio\(found.offset)"
            guard access(directory + "/pull", W_OK) == 0 else {
                throw ContractFailure("\(name) (\(found.chip.name) offset \(found.offset)) is not a gpio-sim line: "
                    + "\(directory)/pull is not writable")
            }
            directories[name] = directory
        }
        lineDirectories = directories
    }

    public func drive(_ lineName: String, _ drive: WorldDrive) throws {
        let pull = drive == .high ? "pull-up" : "pull-down"
        try writeAttribute(try directory(of: lineName) + "/pull", pull)
    }

    public func physicalLevel(_ lineName: String) throws -> Bool {
        let path = try directory(of: lineName) + "/value"
        switch try readAttribute(path) {
        case "1": return true
        case "0": return false
        case let other: throw ContractFailure("\(path) reads '\(other)', expected 0 or 1")
        }
    }

    private func directory(of lineName: String) throws -> String {
        guard let directory = lineDirectories[lineName] else {
            throw ContractFailure("\(lineName) is not one of the gpio-sim world's lines \(lineDirectories.keys.sorted())")
        }
        return directory
    }
}

/// Writes `text` to a sysfs attribute in one write(2).
func writeAttribute(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ContractFailure("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count else {
        throw ContractFailure("cannot write '\(text)' to \(path): \(String(cString: strerror(errno)))")
    }
}

/// Reads a sysfs attribute, without the trailing newline.
func readAttribute(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ContractFailure("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 64)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count >= 0 else { throw ContractFailure("cannot read \(path): \(String(cString: strerror(errno)))") }
    var text = String(decoding: buffer[0..<count], as: UTF8.self)
    while text.last == "\n" { text.removeLast() }
    return text
}
