// `Mutex` in this module is PackGuardPlatform's priority-inheritance mutex (see there why not
// Synchronization.Mutex): a module-level name shadows the imported one, so code reads as usual.
import PackGuardPlatform

typealias Mutex<Value> = PriorityInheritanceMutex<Value>
