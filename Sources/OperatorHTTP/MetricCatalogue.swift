import Bus
import Foundation
import Prometheus

/// Every metric `/metrics` shows, with the `# HELP` text it carries: the bus counts through
/// swift-metrics, which has no help texts, so they are added here by name, and docs/operations.md
/// lists the same names (a test holds the three together).
public enum MetricCatalogue {
    public struct Metric: Sendable {
        public let name: String
        public let help: String
    }

    public static let all: [Metric] = [
        Metric(name: "wzt_build_info", help: "Always 1; the labels say which build of wzt runs"),
        Metric(name: "wzt_ingress_acked_total", help: "Events acked on the ZeroMQ ingress, duplicates included"),
        Metric(name: "wzt_ingress_duplicates_total", help: "Acks on the ZeroMQ ingress for events the log already held"),
        Metric(name: "wzt_ingress_nacked_total", help: "Events refused on the ZeroMQ ingress, by nack code"),
        Metric(name: "wzt_http_acked_total", help: "Events acked by POST /events"),
        Metric(name: "wzt_http_nacked_total", help: "Events refused by POST /events, by nack code"),
        Metric(name: "wzt_log_events_appended_total", help: "Events stored in the log"),
        Metric(name: "wzt_log_commit_duration_seconds", help: "Duration of one group commit of the log, fsync included"),
        Metric(name: "wzt_log_commit_batch_events", help: "Events per group commit of the log"),
        Metric(name: "wzt_dispatch_delivered_total", help: "Events a subscription handled or dead-lettered"),
        Metric(name: "wzt_dispatch_retries_total", help: "Failed tries of a subscription that were retried"),
        Metric(name: "wzt_dispatch_dead_lettered_total", help: "Events a subscription gave up on"),
        Metric(name: "wzt_cursor_lag_events", help: "Events of the subscription's types beyond its cursor"),
        Metric(name: "wzt_dispatch_apply_rate_events_per_second", help: "Events the subscription applied per second over about the last ten seconds"),
        Metric(name: "wzt_dispatch_behind_seconds", help: "Age of the subscription's oldest unapplied event; 0 when it has applied everything"),
        Metric(name: "wzt_module_owned", help: "1 while this node runs the module (or the bus's own subscription) under its lease, 0 while another node does; only with [cluster]"),
        Metric(name: "process_cpu_seconds_total", help: "User and system CPU time the process used"),
        Metric(name: "process_resident_memory_bytes", help: "Resident memory of the process"),
        Metric(name: "process_open_fds", help: "File descriptors the process holds open"),
        Metric(name: "process_max_fds", help: "The most file descriptors the process may open"),
        Metric(name: "process_start_time_seconds", help: "When the process started, in seconds since the Unix epoch"),
    ]

    private static let helpByName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.help) })

    /// What `/metrics` answers: the registry's samples with a `# HELP` line before each family's
    /// `# TYPE` line, then the process's own metrics and the build's.
    public static func exposition(_ registry: PrometheusCollectorRegistry) -> String {
        var lines: [Substring] = []
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.split(separator: " ").dropFirst(2).first, let help = helpByName[String(name)],
               lines.last?.hasPrefix("# HELP \(name) ") != true {
                lines.append("# HELP \(name) \(help)")
            }
            lines.append(line)
        }
        var exposition = lines.joined(separator: "\n")
        if !exposition.isEmpty, !exposition.hasSuffix("\n") { exposition += "\n" }
        exposition += family("wzt_build_info", "gauge", samples: [#"{version="\#(BuildInfo.version)",plugin_api="\#(BuildInfo.pluginAPI)"} 1"#])
        let process = ProcessSample.now()
        if let cpu = process.cpuSeconds { exposition += family("process_cpu_seconds_total", "counter", value: cpu) }
        if let resident = process.residentBytes { exposition += family("process_resident_memory_bytes", "gauge", value: resident) }
        if let open = process.openFileDescriptors { exposition += family("process_open_fds", "gauge", value: open) }
        if let max = process.maxFileDescriptors { exposition += family("process_max_fds", "gauge", value: max) }
        if let start = process.startTime { exposition += family("process_start_time_seconds", "gauge", value: start) }
        return exposition
    }

    private static func family(_ name: String, _ kind: String, value: Double) -> String {
        family(name, kind, samples: [" \(value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value))"])
    }

    private static func family(_ name: String, _ kind: String, samples: [String]) -> String {
        "# HELP \(name) \(helpByName[name] ?? "")\n# TYPE \(name) \(kind)\n" + samples.map { name + $0 + "\n" }.joined()
    }
}

/// The process's own figures as Linux's `/proc` gives them; nil where it gives none.
struct ProcessSample {
    var cpuSeconds: Double?
    var residentBytes: Double?
    var openFileDescriptors: Double?
    var maxFileDescriptors: Double?
    var startTime: Double?

    static func now() -> ProcessSample {
        var sample = ProcessSample()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        // /proc/self/stat: the fields after the command name, which is in parentheses and may hold spaces.
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")"), ticks > 0 {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // Fields 14 and 15 (utime, stime) and 22 (starttime) of proc(5), counted from the state (field 3).
            if fields.count > 19, let user = Double(fields[11]), let system = Double(fields[12]) { sample.cpuSeconds = (user + system) / ticks }
            if fields.count > 19, let started = Double(fields[19]), let boot = bootTime() { sample.startTime = boot + started / ticks }
        }
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = Double(fields[1]) { sample.residentBytes = pages * Double(sysconf(Int32(_SC_PAGESIZE))) }
        }
        if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") { sample.openFileDescriptors = Double(descriptors.count) }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { sample.maxFileDescriptors = Double(limit.rlim_cur) }
        return sample
    }

    private static func bootTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        return stat.split(separator: "\n").first { $0.hasPrefix("btime ") }.flatMap { Double($0.dropFirst(6)) }
    }
}
