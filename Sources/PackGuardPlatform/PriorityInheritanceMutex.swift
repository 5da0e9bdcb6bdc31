// A mutex on a pthread priority-inheritance mutex, used everywhere PackGuard says `Mutex`.
//
// Why not Synchronization.Mutex: it is a PI futex too, but its contended path runs inside the
// toolchain's (uninstrumented) library, so ThreadSanitizer cannot see that the second thread's
// access comes after the first's unlock and reports a race between two accesses under one lock.
// pthread_mutex_lock is intercepted by ThreadSanitizer, so every lock and unlock is a
// happens-before edge it knows. PTHREAD_PRIO_INHERIT keeps what the futex gave: a SCHED_FIFO
// control thread waiting for a lock that a normal thread holds lends that thread its priority,
// so a CPU hog cannot keep the relays waiting behind a preempted status request.
#if os(Linux)
import Glibc

/// The same interface as Synchronization.Mutex (`init`, `withLock`), on a PI pthread mutex.
public final class PriorityInheritanceMutex<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched between pthread_mutex_lock and pthread_mutex_unlock, and
    // `sending` in the signatures keeps a non-Sendable value from escaping the region it came from.
    // @usableFromInline: `withLock` is inlinable, so that a caller in another module specializes it.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var value: Value

    public init(_ initialValue: consuming sending Value) {
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        // These fail only with EINVAL for arguments fixed here, or ENOMEM: a programmer error or a
        // machine that cannot run the controller at all.
        precondition(pthread_mutexattr_init(&attributes) == 0, "pthread_mutexattr_init")
        precondition(pthread_mutexattr_setprotocol(&attributes, Int32(PTHREAD_PRIO_INHERIT)) == 0,
                     "pthread_mutexattr_setprotocol(PTHREAD_PRIO_INHERIT)")
        precondition(pthread_mutex_init(mutex, &attributes) == 0, "pthread_mutex_init")
        precondition(pthread_mutexattr_destroy(&attributes) == 0, "pthread_mutexattr_destroy")
        value = initialValue
    }

    deinit {
        // Nobody can hold it: the last reference is gone.
        precondition(pthread_mutex_destroy(mutex) == 0, "pthread_mutex_destroy of a held mutex")
        mutex.deallocate()
    }

    /// The pthread mutex itself, for C code that takes this lock by the same rules as `withLock`
    /// (the off reflex's C table, which SignalLines guards with its locks): it must lock and unlock
    /// it in pairs, in the owner's lock order, and touch none of `Value`.
    public var unsafePthreadMutex: UnsafeMutablePointer<pthread_mutex_t> { mutex }

    /// Runs `body` with the value while holding the lock.
    @inlinable
    public func withLock<Result, E: Error>(_ body: (inout sending Value) throws(E) -> sending Result) throws(E) -> sending Result {
        // EDEADLK (this thread holds it) or EINVAL: a programmer error, never a world error.
        precondition(pthread_mutex_lock(mutex) == 0, "pthread_mutex_lock")
        defer { precondition(pthread_mutex_unlock(mutex) == 0, "pthread_mutex_unlock") }
        return try body(&value)
    }
}
#endif
