import Bus
import Foundation
import Synchronization

/// What the console's charts draw: the log's head and each module's lag and apply rate, sampled
/// every `interval` for the last hour. Kept in memory: a restart starts the charts again.
final class ConsoleSamples: Sendable {
    struct Sample: Sendable {
        let at: Date
        let head: Int64
        let modules: [String: (lag: Int, rate: Double)]
    }

    static let interval: Duration = .seconds(10)
    static let span: TimeInterval = 3600
    private let samples = Mutex<[Sample]>([])

    var all: [Sample] { samples.withLock { $0 } }

    func record(_ sample: Sample) {
        samples.withLock { samples in
            samples.append(sample)
            samples.removeAll { $0.at < sample.at.addingTimeInterval(-Self.span) }
        }
    }

    /// Samples until cancelled. A failed read (the log closing at shutdown) skips a sample.
    func run(log: EventLog, modules: [WatchedModule]) async {
        while !Task.isCancelled {
            if !log.isClosed, let sample = try? await Self.sample(log: log, modules: modules) { record(sample) }
            try? await Task.sleep(for: Self.interval)
        }
    }

    private static func sample(log: EventLog, modules: [WatchedModule]) async throws -> Sample {
        var positions: [String: (lag: Int, rate: Double)] = [:]
        for module in modules {
            let position = try await module.position(in: log)
            positions[module.name] = (position.lag, position.appliedPerSecond)
        }
        return Sample(at: Date(), head: log.headOffset, modules: positions)
    }

    /// Events appended per second between consecutive samples.
    var ingestRates: [(at: Date, value: Double)] {
        let all = all
        return zip(all, all.dropFirst()).map { earlier, later in
            (later.at, Double(later.head - earlier.head) / max(later.at.timeIntervalSince(earlier.at), 0.001))
        }
    }

    func series(_ module: String, _ value: ((lag: Int, rate: Double)) -> Double) -> [(at: Date, value: Double)] {
        all.compactMap { sample in sample.modules[module].map { (sample.at, value($0)) } }
    }
}

/// Line charts drawn on the server as SVG: no script, nothing to load.
enum SVGChart {
    static let colors = ["#1f6fb2", "#c0392b", "#27864a", "#8e44ad", "#d68910", "#16a0a0", "#6b4f2a"]

    /// One chart of the last hour: each named series a line, the y axis from 0 to the largest value.
    static func draw(title: String, unit: String, series: [(name: String, points: [(at: Date, value: Double)])], now: Date = Date()) -> String {
        let (width, height, left, bottom) = (720.0, 150.0, 56.0, 20.0)
        let top = max(series.flatMap { $0.points.map(\.value) }.max() ?? 0, 1)
        func x(_ date: Date) -> Double { left + (width - left - 8) * (1 - min(max(now.timeIntervalSince(date), 0), ConsoleSamples.span) / ConsoleSamples.span) }
        func y(_ value: Double) -> Double { 8 + (height - bottom - 8) * (1 - value / top) }
        var svg = ##"<figure><figcaption>\##(StatusPage.escape(title))</figcaption>"##
            + ##"<svg role="img" aria-label="\##(StatusPage.escape(title))" width="\##(Int(width))" height="\##(Int(height))" viewBox="0 0 \##(Int(width)) \##(Int(height))">"##
            + ##"<line x1="\##(left)" y1="\##(y(0))" x2="\##(width - 8)" y2="\##(y(0))" stroke="#98a2b3"/>"##
            + ##"<line x1="\##(left)" y1="8" x2="\##(left)" y2="\##(y(0))" stroke="#98a2b3"/>"##
            + ##"<text x="\##(left - 4)" y="14" text-anchor="end" font-size="11">\##(format(top))</text>"##
            + ##"<text x="\##(left - 4)" y="\##(y(0))" text-anchor="end" font-size="11">0</text>"##
            + ##"<text x="\##(left)" y="\##(height - 4)" font-size="11">−60 min</text>"##
            + ##"<text x="\##(width - 8)" y="\##(height - 4)" text-anchor="end" font-size="11">now</text>"##
        for (index, line) in series.enumerated() where !line.points.isEmpty {
            let points = line.points.map { "\(String(format: "%.1f", x($0.at))),\(String(format: "%.1f", y($0.value)))" }.joined(separator: " ")
            svg += ##"<polyline fill="none" stroke-width="2" stroke="\##(colors[index % colors.count])" points="\##(points)"/>"##
        }
        svg += "</svg>"
        let legend = series.enumerated().map { index, line in
            let last = line.points.last.map { format($0.value) } ?? "–"
            return ##"<span style="color:\##(colors[index % colors.count])">■</span> \##(StatusPage.escape(line.name)) \##(last) \##(StatusPage.escape(unit))"##
        }
        return svg + "<br>" + legend.joined(separator: " &nbsp; ") + "</figure>\n"
    }

    private static func format(_ value: Double) -> String {
        value >= 100 || value == value.rounded() ? String(Int(value.rounded())) : String(format: "%.1f", value)
    }
}
