/// A signal with a fixed small position: one bit of a `SignalSet`.
public protocol IndexedSignal: CaseIterable, Hashable, Sendable {
    /// The signal's position, 0 ..< 32, unique within its type and in declaration order.
    var index: Int { get }
    /// The signal at `index`, for every index a signal of this type has.
    static func signal(at index: Int) -> Self?
}

/// A set of signals kept as bits: `contains` is a mask test. The policy asks which inputs and
/// outputs are wired dozens of times per step; a `Set` of these String-backed enums hashes the raw
/// value's String each time (about a third of a steady step went to it).
/// Iterates in declaration order.
public struct SignalSet<Element: IndexedSignal>: SetAlgebra, Sequence, Hashable, Sendable {
    @usableFromInline var bits: UInt32

    @inlinable
    public init() { bits = 0 }

    @inlinable
    public init(arrayLiteral elements: Element...) {
        bits = 0
        for element in elements { bits |= Self.bit(element) }
    }

    @inlinable
    static func bit(_ element: Element) -> UInt32 {
        precondition(element.index >= 0 && element.index < 32, "a SignalSet holds signals with indices 0 ..< 32")
        return 1 << UInt32(element.index)
    }

    /// Every signal of the type.
    public static var all: SignalSet { SignalSet(Element.allCases) }

    @inlinable
    public var count: Int { bits.nonzeroBitCount }

    @inlinable
    public var isEmpty: Bool { bits == 0 }

    @inlinable
    public func contains(_ member: Element) -> Bool { bits & Self.bit(member) != 0 }

    @inlinable
    @discardableResult
    public mutating func insert(_ newMember: Element) -> (inserted: Bool, memberAfterInsert: Element) {
        let inserted = !contains(newMember)
        bits |= Self.bit(newMember)
        return (inserted, newMember)
    }

    @inlinable
    @discardableResult
    public mutating func remove(_ member: Element) -> Element? {
        guard contains(member) else { return nil }
        bits &= ~Self.bit(member)
        return member
    }

    @inlinable
    @discardableResult
    public mutating func update(with newMember: Element) -> Element? {
        insert(newMember).inserted ? nil : newMember
    }

    @inlinable
    public func union(_ other: SignalSet) -> SignalSet { var result = self; result.bits |= other.bits; return result }
    @inlinable
    public func intersection(_ other: SignalSet) -> SignalSet { var result = self; result.bits &= other.bits; return result }
    @inlinable
    public func symmetricDifference(_ other: SignalSet) -> SignalSet { var result = self; result.bits ^= other.bits; return result }
    @inlinable
    public mutating func formUnion(_ other: SignalSet) { bits |= other.bits }
    @inlinable
    public mutating func formIntersection(_ other: SignalSet) { bits &= other.bits }
    @inlinable
    public mutating func formSymmetricDifference(_ other: SignalSet) { bits ^= other.bits }

    /// Walks the bits, lowest first: no array of cases is built.
    public struct Iterator: IteratorProtocol {
        @usableFromInline var remaining: UInt32

        @inlinable
        init(_ bits: UInt32) { remaining = bits }

        @inlinable
        public mutating func next() -> Element? {
            guard remaining != 0 else { return nil }
            let index = remaining.trailingZeroBitCount
            remaining &= remaining - 1
            guard let signal = Element.signal(at: index) else {
                preconditionFailure("a SignalSet bit without a signal: \(index)")
            }
            return signal
        }
    }

    @inlinable
    public func makeIterator() -> Iterator { Iterator(bits) }

    @inlinable
    public var underestimatedCount: Int { count }
}

extension SignalSet: CustomStringConvertible {
    public var description: String { "[" + map { "\($0)" }.joined(separator: ", ") + "]" }
}

extension InputSignal: IndexedSignal {
    @inlinable
    public static func signal(at index: Int) -> InputSignal? {
        switch index {
        case 0: .chargeEnable
        case 1: .dischargeEnable
        case 2: .chargerSafety
        case 3: .balanceSwitch
        case 4: .chargeContactorFeedback
        case 5: .dischargeContactorFeedback
        default: nil
        }
    }
}

extension OutputSignal: IndexedSignal {
    @inlinable
    public static func signal(at index: Int) -> OutputSignal? {
        switch index {
        case 0: .chargeRelay
        case 1: .dischargeRelay
        case 2: .balancePowerRelay
        case 3: .shoreChargerRelay
        case 4: .statusLed
        case 5: .heartbeat
        case 6: .prechargeRelay
        default: nil
        }
    }
}

/// The inputs or outputs a configuration wires, a reload moved, and the like.
public typealias InputSignals = SignalSet<InputSignal>
public typealias OutputSignals = SignalSet<OutputSignal>
