import PackGuardCore
import PackGuardGPIO

extension PackGuardConfiguration {
    /// The GPIO lines this configuration wires, as the GPIO module requests them.
    public var wiring: LineWiring { LineWiring(inputs: inputs, outputs: outputs) }
}

extension SignalLines {
    /// Requests every line `configuration` wires.
    public convenience init(configuration: PackGuardConfiguration, backend: any GPIOBackend) throws(GPIOError) {
        try self.init(wiring: configuration.wiring, backend: backend)
    }

    /// Moves the lines to those `configuration` wires (see `reconfigure(to:backend:)`).
    public func reconfigure(to configuration: PackGuardConfiguration, backend: any GPIOBackend) throws(GPIOError)
        -> (relocation: Relocation, notDrivenOff: [GPIOError]) {
        try reconfigure(to: configuration.wiring, backend: backend)
    }
}

extension LineListing {
    /// The listing with the lines `configuration` wires marked.
    public init(configuration: PackGuardConfiguration, backend: any GPIOBackend) throws(GPIOError) {
        try self.init(wiring: configuration.wiring, backend: backend)
    }
}
