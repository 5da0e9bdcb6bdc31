import PropertyBased
import Testing
@testable import PackGuardCore

/// `SignalSet` stands in for `Set` in the policy's configuration: it must answer exactly as a
/// `Set` of the same signals would, for every operation the policy, the configuration and the
/// reload use.
@Suite("SignalSet: a bit set that behaves as Set")
struct SignalSetTests {
    @Test func everySignalHasItsOwnBitAndComesBackFromIt() {
        for signal in InputSignal.allCases { #expect(InputSignal.signal(at: signal.index) == signal) }
        for signal in OutputSignal.allCases { #expect(OutputSignal.signal(at: signal.index) == signal) }
        #expect(Set(InputSignal.allCases.map(\.index)).count == InputSignal.allCases.count)
        #expect(Set(OutputSignal.allCases.map(\.index)).count == OutputSignal.allCases.count)
        #expect(InputSignal.signal(at: InputSignal.allCases.count) == nil)
        #expect(OutputSignal.signal(at: -1) == nil)
    }

    @Test func iteratesInDeclarationOrder() {
        #expect(Array(OutputSignals.all) == OutputSignal.allCases)
        let some: InputSignals = [.balanceSwitch, .chargeEnable, .dischargeContactorFeedback]
        #expect(Array(some) == [.chargeEnable, .balanceSwitch, .dischargeContactorFeedback])
        #expect(some.count == 3 && !some.isEmpty && InputSignals().isEmpty)
        #expect(some.description == "[Charge Enable (BMS pin 1), balancing switch, discharge contactor feedback]")
    }

    @Test func insertAndRemoveSayWhatChanged() {
        var set: OutputSignals = [.heartbeat]
        #expect(set.insert(.heartbeat).inserted == false)
        #expect(set.insert(.statusLed).inserted == true)
        #expect(set.remove(.chargeRelay) == nil)
        #expect(set.remove(.heartbeat) == .heartbeat)
        #expect(set.update(with: .statusLed) == .statusLed)
        #expect(set.update(with: .chargeRelay) == nil)
        #expect(set == [.statusLed, .chargeRelay])
    }

    /// Random sets and operations, each answered by a `Set` too.
    @Test func answersAsASetWouldForRandomOperations() async {
        let pairs = Gen.int(in: 0...127).array(of: 2...2)
        await propertyCheck(count: 300, input: pairs) { masks in
            let signals = OutputSignal.allCases
            func both(_ mask: Int) -> (OutputSignals, Set<OutputSignal>) {
                let chosen = signals.filter { mask & (1 << $0.index) != 0 }
                return (OutputSignals(chosen), Set(chosen))
            }
            let (a, setA) = both(masks[0])
            let (b, setB) = both(masks[1])
            #expect(Set(a) == setA && a.count == setA.count && a.isEmpty == setA.isEmpty)
            for signal in signals { #expect(a.contains(signal) == setA.contains(signal)) }
            #expect(Set(a.union(b)) == setA.union(setB))
            #expect(Set(a.intersection(b)) == setA.intersection(setB))
            #expect(Set(a.symmetricDifference(b)) == setA.symmetricDifference(setB))
            #expect(Set(a.subtracting(b)) == setA.subtracting(setB))
            #expect(a.isSubset(of: b) == setA.isSubset(of: setB))
            #expect(a.isDisjoint(with: b) == setA.isDisjoint(with: setB))
            #expect((a == b) == (setA == setB))
            var c = a
            c.subtract(b)
            #expect(Set(c) == setA.subtracting(setB))
        }
    }
}
