import CLinuxEvents

/// The name the kernel gives the calling thread, and the threads it starts later (/proc/PID/comm:
/// what ps, pgrep, top and the journal's _COMM show).
public enum ProcessName {
    /// Sets it; at most 15 characters (a programmer error otherwise). Returns 0, or the errno.
    @discardableResult
    public static func set(_ name: String) -> Int32 {
        precondition(name.utf8.count <= 15, "a thread name has at most 15 characters: \(name)")
        return pg_set_thread_name(name)
    }
}
