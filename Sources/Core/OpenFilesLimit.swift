#if canImport(Glibc)
import Glibc
#endif

/// The open-files limit of a node's process. A node holds sockets, database files and
/// connections; when it runs out, libzmq and NIO assert (the process dies on SIGABRT or SIGILL)
/// or a socket thread stops for good, so the limit is checked, and raised where it may be, before
/// anything is opened.
public enum OpenFilesLimit {
    /// What a node needs at least: its sockets, its databases' files, and room for connections.
    public static let minimum = 1024
    /// Up to this much of the hard limit is taken, as most servers do.
    static let wanted: rlim_t = 65536

    public struct TooLow: Error, CustomStringConvertible {
        public let limit: Int
        public var description: String {
            "this process may open \(limit) files, and a node needs at least \(OpenFilesLimit.minimum); raise the limit (ulimit -n, or LimitNOFILE= in a systemd unit) and start again"
        }
    }

    /// Raises the soft limit towards the hard one; throws when even that is below `minimum`.
    public static func raise() throws(TooLow) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let target = min(limit.rlim_max, max(limit.rlim_cur, wanted))
        if target > limit.rlim_cur {
            var raised = limit
            raised.rlim_cur = target
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        // RLIM_INFINITY is all bits set, which clamps to Int.max.
        let current = Int(clamping: limit.rlim_cur)
        guard current >= minimum else { throw TooLow(limit: current) }
    }
}
