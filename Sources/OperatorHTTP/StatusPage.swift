import Audit
import Bus
import Foundation
import Hummingbird
import ModuleKit

/// The status page: server-rendered HTML without scripts. Modules with their cursor, lag, apply
/// rate, how far behind they are and dead letters; the latest events; and one case's timeline. It shows types, offsets, times, sources
/// and subjects (case references), never the events' data. For operators (see `Access`); a case's
/// timeline is a read about a person and is audited.
enum StatusPage {
    static func add(to router: Router<BasicRequestContext>, log: EventLog, node: Console.Node, audit: AuditLog, access: Access) {
        router.get("/") { request, _ in
            if let refusal = access.refuseUnlessOperator(request) { return refusal }
            let head = log.headOffset
            let letters = try await log.deadLetters(status: .open)
            var rows = ""
            for module in node.modules {
                let name = module.name
                let position = try await module.position(in: log)
                let dead = letters.filter { $0.subscription == name }.count
                rows += "<tr><td><a href=\"/modules/\(Console.escapeQuery(name))\">\(escape(name))</a></td><td>\(module.state())</td><td>\(position.cursor)</td>"
                    + "<td class=\"\(position.lag > 0 ? "warn" : "")\">\(position.lag)</td><td>\(Int(position.appliedPerSecond))</td>"
                    + "<td class=\"\(position.secondsBehind > 0 ? "warn" : "")\">\(String(format: "%.1f s", position.secondsBehind))</td>"
                    + "<td class=\"\(dead > 0 ? "bad" : "")\">\(dead)</td></tr>\n"
            }
            let recent = try await log.events(after: max(0, head - 25), limit: 25).reversed()
            let events = recent.map(eventRow).joined(separator: "\n")
            let names = node.modules.map(\.name)
            let charts = SVGChart.draw(title: "Events appended per second", unit: "/s", series: [("log", node.samples.ingestRates)])
                + SVGChart.draw(title: "Events applied per second", unit: "/s", series: names.map { ($0, node.samples.series($0) { $0.rate }) })
                + SVGChart.draw(title: "Lag (events of its types beyond its cursor)", unit: "events", series: names.map { ($0, node.samples.series($0) { Double($0.lag) }) })
            return html(title: "wzt status", body: Console.nav(access, request) + """
                <h1>wzt</h1>
                <p>Log head <strong>\(head)</strong>, <strong>\(letters.count)</strong> open dead letters. \(node.versionAndUptime)</p>
                <form action="/cases" method="get"><label>Case or trajectory <input name="subject" required></label> <button>Timeline</button></form>
                <h2>Modules</h2>
                <table id="modules"><tr><th>module</th><th>state</th><th>cursor</th><th>lag</th><th>applied/s</th><th>behind</th><th>dead letters</th></tr>
                \(rows)</table>
                <h2>The last hour</h2>
                <div id="charts">\(charts)</div>
                <h2>Latest events</h2>
                <table id="events"><tr><th>offset</th><th>type</th><th>subject</th><th>source</th><th>time</th></tr>
                \(events)</table>
                <p><a href="/events">All events, with filters →</a></p>
                \(node.ruleSetsSection)
                """)
        }
        router.get("cases") { request, _ in
            if let refusal = access.refuseUnlessOperator(request) { return refusal }
            guard let subject = request.uri.queryParameters.get("subject"), Identifier.isValid(subject) else {
                return html(status: .badRequest, title: "wzt: no case",
                            body: "<p>Give a case or trajectory reference (\(escape(Identifier.rule))): <code>/cases?subject=case-1</code>.</p>")
            }
            let events = try await log.recorded(subject: subject)
            let reader = access.user(request)
            try await audit.record(AuditEntry(actor: reader?.name ?? "anyone on this host", role: reader?.role.rawValue ?? HTTPUser.Role.operator.rawValue,
                                              agency: reader?.agency, action: "GET /cases?subject=\(subject)", subject: subject, purpose: "operations",
                                              outcome: .allowed))
            let body = events.isEmpty
                ? "<p>No events about <strong>\(escape(subject))</strong>.</p>"
                : "<table id=\"timeline\"><tr><th>offset</th><th>happened (Brussels)</th><th>recorded (Brussels)</th><th>type</th><th>source</th><th>refusal</th></tr>\n"
                    + events.map(timelineRow).joined(separator: "\n") + "</table>"
            return html(title: "wzt: \(subject)", body: Console.nav(access, request) + "<h1>Timeline of \(escape(subject))</h1>\n" + body)
        }
    }

    /// A row of a case's timeline: when it happened and when the log recorded it, in Brussels
    /// time, and for a refusal its code and reason (never other data).
    private static func timelineRow(_ recorded: (event: StoredEvent, at: String)) -> String {
        let event = recorded.event
        let attributes = event.attributes
        let refusal = event.type.hasSuffix(".refused") ? Refusal.of(event).map { "<code>\(escape($0.code))</code> \(escape($0.reason))" } ?? "" : ""
        return "<tr class=\"\(refusal.isEmpty ? "" : "refused")\"><td>\(event.offset)</td><td>\(escape(attributes?.time.map(BrusselsTime.text) ?? ""))</td>"
            + "<td>\(escape(BrusselsTime.text(recorded.at)))</td><td>\(escape(event.type))</td><td>\(escape(attributes?.source ?? ""))</td><td>\(refusal)</td></tr>"
    }

    /// The code and reason of a `<module>.refused` event: what the module said, not the refused event's data.
    private struct Refusal: Decodable {
        struct Data: Decodable {
            let code: String
            let reason: String
        }
        let data: Data

        static func of(_ event: StoredEvent) -> Data? { (try? JSONDecoder().decode(Refusal.self, from: Foundation.Data(event.json)))?.data }
    }

    static func eventRow(_ event: StoredEvent) -> String {
        let attributes = event.attributes
        let source = attributes?.source ?? ""
        let time = attributes?.time ?? ""
        let subject = event.subject.map(Console.caseLink) ?? ""
        return "<tr><td>\(event.offset)</td><td>\(escape(event.type))</td><td>\(subject)</td><td>\(escape(source))</td><td>\(escape(time))</td></tr>"
    }

    static func html(status: HTTPResponse.Status = .ok, title: String, body: String) -> Response {
        let page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <title>\(escape(title))</title>
            <style>
            body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d2433; }
            table { border-collapse: collapse; margin-bottom: 1.5rem; }
            th, td { padding: .25rem .75rem; border-bottom: 1px solid #d8dde6; text-align: left; }
            th { background: #eef1f6; }
            td.warn { background: #fff3cd; } td.bad, p.bad { background: #f8d7da; } p.done { background: #d1e7dd; } tr.refused td { background: #fdecea; }
            figure { margin: 0 0 1rem; } figcaption { font-weight: 600; } form.filters label { margin-right: .75rem; }
            p.bad, p.done { padding: .5rem .75rem; }
            nav { margin-bottom: 1rem; } form.inline { display: inline; }
            </style></head>
            <body>
            \(body)
            </body></html>
            """
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
