import PackGuardCore

/// A gpioinfo-like listing of every chip and line, marking the configured signals.
public struct LineListing {
    public private(set) var text = ""
    /// Configured signals whose line was not found.
    public private(set) var missing: [String] = []

    public init(wiring: LineWiring, backend: any GPIOBackend) throws(GPIOError) {
        let resolver = try LineResolver(backend: backend)
        var marks: [String: [String]] = [:]  // "chip/offset" → signal keys
        for (key, locator) in wiring.inputs.map({ ($0.key.rawValue, $0.value.locator) })
            + wiring.outputs.map({ ($0.key.rawValue, $0.value.locator) }) {
            do {
                let found = try resolver.resolve(locator)
                marks["\(found.chip.path)/\(found.offset)", default: []].append(key)
            } catch {
                missing.append("\(key) (\(locator))")
            }
        }
        text += "backend: \(backend.description)\n"
        for chip in resolver.openChips {
            text += "\(chip.name) [\(chip.label)] \(chip.lineCount) lines (\(chip.path))\n"
            for offset in 0..<chip.lineCount {
                let info = try chip.lineInfo(offset: offset)
                let name = info.name.isEmpty ? "unnamed" : info.name
                let direction = info.used ? (info.isOutput ? "output" : "input") : "-"
                let consumer = info.used ? (info.consumer.isEmpty ? "in use" : "used by \(info.consumer)") : "free"
                let mark = marks["\(chip.path)/\(offset)"].map { "  <- " + $0.sorted().joined(separator: ", ") } ?? ""
                let bias = switch info.bias {
                case .pullUp: " pull-up"
                case .pullDown: " pull-down"
                case .disabled: " bias-disabled"
                case .asIs: ""
                }
                text += "  line \(pad(offset, 3)): \(name.padding(12)) \(direction.padding(6)) \(consumer)\(info.activeLow ? " active-low" : "")\(bias)\(mark)\n"
            }
        }
        missing.sort()
    }
}

private func pad(_ value: Int, _ width: Int) -> String {
    let text = String(value)
    return String(repeating: " ", count: max(0, width - text.count)) + text
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
