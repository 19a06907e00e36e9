import Audit
import Bus
import Foundation
import Hummingbird
import ModuleKit
import PluginAPI

/// The operator console's pages beyond the status page: logging in and out, the dead letters with
/// retry and discard, the events with filters, a page per module. Server-rendered, without
/// scripts; every change needs an operator, the form token of their session, and is audited.
enum Console {
    /// What the pages know of the node beyond its log.
    struct Node: Sendable {
        let modules: [WatchedModule]
        let samples: ConsoleSamples
        let rules: RuleBook?
        let refusedPlugins: [String]
        let startedAt: Date

        var versionAndUptime: String {
            let seconds = Int(Date().timeIntervalSince(startedAt))
            let uptime = seconds >= 86_400 ? "\(seconds / 86_400) d \(seconds % 86_400 / 3600) h" : seconds >= 3600 ? "\(seconds / 3600) h \(seconds % 3600 / 60) min" : "\(seconds / 60) min"
            return "wzt \(escape(BuildInfo.version)), up \(uptime) (since \(escape(BrusselsTime.text(startedAt))))."
        }

        var ruleSetsSection: String {
            guard let rules else { return "" }
            let rows = rules.ruleSets.sorted { $0.id < $1.id }.map { rules -> String in
                let offers = Offer.allCases.compactMap { offer in rules.offers[offer].map { "\(offer): \($0)" } }.joined(separator: "; ")
                return "<tr><td>\(escape(rules.id))</td><td>\(escape(rules.region))</td><td>\(escape(rules.regime))</td><td>\(escape(offers))</td></tr>"
            }.joined(separator: "\n")
            let refused = refusedPlugins.map { "<p class=\"bad\">Plugin refused: \(escape($0))</p>" }.joined()
            return "<h2>Rule sets</h2>\n<table id=\"rule-sets\"><tr><th>rule set</th><th>region</th><th>regime</th><th>cases started</th></tr>\n\(rows)</table>\n\(refused)"
        }
    }

    static func add(to router: Router<BasicRequestContext>, log: EventLog, node: Node, audit: AuditLog, access: Access) {
        router.get("login") { request, _ in
            if access.operatorPagesOpen {
                return StatusPage.html(title: "wzt: log in", body: "<p>No users are configured and this node listens on loopback only: the pages are open. <a href=\"/\">Status</a></p>")
            }
            return loginPage(next: request.uri.queryParameters.get("next"), problem: nil)
        }
        router.post("login") { request, _ in
            let form = try await Self.form(request)
            let next = form["next"]
            if Access.fetchSite(request) == "cross-site" {
                return loginPage(next: next, problem: "A log-in must come from this node's own form.", status: .forbidden)
            }
            let presented = Array((form["token"] ?? "").utf8)
            guard let user = access.users.first(where: { Bearer.constantTimeEquals(Array($0.token.utf8), presented) }) else {
                return loginPage(next: next, problem: "That token is not the token of any user in http.users.", status: .unauthorized)
            }
            guard user.role == .operator else {
                return loginPage(next: next, problem: "User \(user.name) has role \(user.role.rawValue); the console is for the operator role.", status: .forbidden)
            }
            var response = redirect(to: safe(next))
            response.setCookie(access.sessions.cookie(for: user))
            return response
        }
        router.post("logout") { request, _ in
            if let refusal = access.refuseChange(request, csrf: try await Self.form(request)["csrf"]) { return refusal }
            if let session = access.sessions.session(request, users: access.users) { access.sessions.end(session) }
            var response = redirect(to: "/login")
            response.setCookie(Sessions.ended)
            return response
        }
        router.get("dead-letters") { request, _ in
            if let refusal = access.refuseUnlessOperator(request) { return refusal }
            let letters = try await log.deadLetters(status: nil).filter { $0.status == .open || $0.status == .retry }
            let token = access.formToken(request) ?? ""
            var rows = ""
            for letter in letters {
                let actions = letter.status == .open ? Self.actions(letter.id, token: token) : "waiting for its retry"
                rows += "<tr><td><a href=\"/dead-letters/\(letter.id)\">\(letter.id)</a></td><td>\(escape(letter.subscription))</td><td>\(escape(letter.eventType))</td><td>\(letter.eventOffset)</td>"
                    + "<td>\(escape(letter.error))</td><td>\(letter.attempts)</td><td>\(escape(letter.createdAt))</td><td>\(actions)</td></tr>\n"
            }
            // What the last action did, said by the node from the dead letter itself: a link cannot put words here.
            var done = ""
            for action in ["retried", "discarded", "unchanged"] {
                guard let id = request.uri.queryParameters.get(action).flatMap(Int64.init), let letter = try log.deadLetter(id: id) else { continue }
                let text = switch action {
                case "retried": "Dead letter \(id) is delivered to \(letter.subscription) again shortly."
                case "discarded": "Dead letter \(id) is discarded: \(letter.subscription) will not apply event \(letter.eventOffset)."
                default: "Dead letter \(id) was not open; nothing changed."
                }
                done = "<p class=\"done\">\(escape(text))</p>"
            }
            let table = letters.isEmpty ? "<p>No dead letters.</p>"
                : "<table id=\"dead-letters\"><tr><th>id</th><th>module</th><th>type</th><th>offset</th><th>error</th><th>attempts</th><th>since</th><th></th></tr>\n\(rows)</table>"
            return StatusPage.html(title: "wzt: dead letters", body: nav(access, request) + "<h1>Dead letters</h1>\n\(done)\n\(table)")
        }
        router.get("dead-letters/:id") { request, context in
            if let refusal = access.refuseUnlessOperator(request) { return refusal }
            guard let id = context.parameters.get("id", as: Int64.self), let letter = try log.deadLetter(id: id) else {
                return StatusPage.html(status: .notFound, title: "wzt: no such dead letter", body: nav(access, request) + "<p>No such dead letter. <a href=\"/dead-letters\">Dead letters</a></p>")
            }
            // The event's attributes, never its data: the status pages show no one's personal data.
            let event = try await log.event(at: letter.eventOffset)
            let attributes = event?.attributes
            let subject = event?.subject.map(caseLink) ?? ""
            let token = access.formToken(request) ?? ""
            let actions = letter.status == .open ? Self.actions(letter.id, token: token) : escape(letter.status.rawValue)
            return StatusPage.html(title: "wzt: dead letter \(id)", body: nav(access, request) + """
                <h1>Dead letter \(id)</h1>
                <table id="dead-letter">
                <tr><th>module</th><td><a href="/modules/\(escapeQuery(letter.subscription))">\(escape(letter.subscription))</a></td></tr>
                <tr><th>status</th><td>\(escape(letter.status.rawValue))</td></tr>
                <tr><th>error</th><td>\(escape(letter.error))</td></tr>
                <tr><th>attempts</th><td>\(letter.attempts)</td></tr>
                <tr><th>first failed</th><td>\(escape(BrusselsTime.text(letter.createdAt)))</td></tr>
                <tr><th>last changed</th><td>\(escape(BrusselsTime.text(letter.updatedAt)))</td></tr>
                <tr><th>event</th><td>\(escape(letter.eventType)) at offset \(letter.eventOffset), id \(escape(letter.eventID))</td></tr>
                <tr><th>subject</th><td>\(subject)</td></tr>
                <tr><th>source</th><td>\(escape(attributes?.source ?? ""))</td></tr>
                <tr><th>happened (Brussels)</th><td>\(escape(attributes?.time.map(BrusselsTime.text) ?? ""))</td></tr>
                <tr><th>actor</th><td>\(escape([attributes?.actorrole, attributes?.actoragency].compactMap(\.self).joined(separator: ", ")))</td></tr>
                <tr><th>purpose</th><td>\(escape(attributes?.purpose ?? ""))</td></tr>
                </table>
                <p>\(actions)</p>
                """)
        }
        router.post("dead-letters/:id/:action") { request, context in
            let form = try await Self.form(request)
            if let refusal = access.refuseChange(request, csrf: form["csrf"]) { return refusal }
            guard let id = context.parameters.get("id", as: Int64.self), let letter = try log.deadLetter(id: id) else {
                return StatusPage.html(status: .notFound, title: "wzt: no such dead letter", body: "<p>No dead letter \(escape(context.parameters.get("id") ?? "")). <a href=\"/dead-letters\">Dead letters</a></p>")
            }
            let done: String
            switch context.parameters.get("action") {
            case "retry":
                let changed = try await log.setDeadLetterStatus(id: id, to: .retry, from: [.open])
                done = changed ? "retried" : "unchanged"
            case "discard":
                let changed = try await log.setDeadLetterStatus(id: id, to: .discarded, from: [.open, .retry])
                done = changed ? "discarded" : "unchanged"
            default:
                return StatusPage.html(status: .notFound, title: "wzt: no such action", body: "<p>A dead letter can be retried or discarded.</p>")
            }
            let user = access.user(request)
            let subject = try await log.event(at: letter.eventOffset)?.subject ?? "dead-letter-\(id)"
            try await audit.record(AuditEntry(actor: user?.name ?? "anyone on this host", role: HTTPUser.Role.operator.rawValue, agency: user?.agency,
                                              action: "POST \(request.uri.path)", subject: subject, purpose: "operations", outcome: .allowed))
            return redirect(to: "/dead-letters?\(done)=\(id)")
        }
    }

    static func addBrowsing(to router: Router<BasicRequestContext>, log: EventLog, node: Node, access: Access) {
        router.get("events") { request, _ in
            if let refusal = access.refuseUnlessOperator(request) { return refusal }
            let query = request.uri.queryParameters
            func field(_ name: String) -> String? { query.get(name).flatMap { $0.isEmpty ? nil : $0 } }
            var problems: [String] = []
            func moment(_ name: String) -> String? {
                guard let text = field(name) else { return nil }
                guard let utc = BrusselsTime.utc(fromLocal: text) else {
                    problems.append("\(name): \(text) is not a moment like 2026-12-06T10:30")
                    return nil
                }
                return utc
            }
            if let subject = field("subject"), !Identifier.isValid(subject) { problems.append("subject: a case or trajectory id is \(Identifier.rule)") }
            let filter = EventFilter(typePrefix: field("type"), subject: field("subject").flatMap { Identifier.isValid($0) ? $0 : nil }, recordedFrom: moment("from"), recordedBefore: moment("to"))
            let head = log.headOffset
            let before = field("before").flatMap(Int64.init).map { max(1, min($0, head + 1)) } ?? head + 1
            let page = try await log.page(before: before, filter: filter)
            let rows = page.events.map { recorded -> String in
                let event = recorded.event
                let subject = event.subject.map(caseLink) ?? ""
                return "<tr><td>\(event.offset)</td><td>\(escape(BrusselsTime.text(recorded.recordedAt)))</td><td>\(escape(event.type))</td><td>\(subject)</td><td>\(escape(event.attributes?.source ?? ""))</td></tr>"
            }.joined(separator: "\n")
            let kept: [String] = ["type", "subject", "from", "to"].compactMap { name in field(name).map { "\(name)=\(escapeQuery($0))" } }
            var paging: [String] = []
            if before <= head { paging.append("<a href=\"/events?\(kept.joined(separator: "&"))\">Newest</a>") }
            if page.searchedFrom > 1 {
                let note = page.events.count < 50 ? " (searched offsets \(page.searchedFrom) to \(before - 1))" : ""
                paging.append("<a href=\"/events?\((kept + ["before=\(page.searchedFrom)"]).joined(separator: "&"))\">Older →</a>\(note)")
            }
            let value = { (name: String) in escape(field(name) ?? "") }
            let problemText = problems.map { "<p class=\"bad\">\(escape($0))</p>" }.joined()
            return StatusPage.html(title: "wzt: events", body: nav(access, request) + """
                <h1>Events</h1>
                \(problemText)
                <form class="filters" action="/events" method="get">
                <label>Type starts with <input name="type" value="\(value("type"))" placeholder="be.wzt.intake."></label>
                <label>Subject <input name="subject" value="\(value("subject"))"></label>
                <label>Recorded from <input type="datetime-local" name="from" value="\(value("from"))"></label>
                <label>to <input type="datetime-local" name="to" value="\(value("to"))"></label>
                <button>Show</button> <span>(Brussels time)</span>
                </form>
                <table id="events"><tr><th>offset</th><th>recorded (Brussels)</th><th>type</th><th>subject</th><th>source</th></tr>
                \(rows)</table>
                <p>\(page.events.isEmpty ? "No events match. " : "")\(paging.joined(separator: " · "))</p>
                """)
        }
        router.get("modules/:name") { request, context in
            if let refusal = access.refuseUnlessOperator(request) { return refusal }
            guard let name = context.parameters.get("name"), let module = node.modules.first(where: { $0.name == name }) else {
                return StatusPage.html(status: .notFound, title: "wzt: no such module", body: nav(access, request) + "<p>This node has no such module.</p>")
            }
            let position = try await module.position(in: log)
            let letters = try await log.deadLetters(status: nil, subscription: name).filter { $0.status == .open || $0.status == .retry }
            let lastError = letters.last.map { "<p class=\"bad\">Last error (dead letter \($0.id), \(escape(BrusselsTime.text($0.createdAt)))): \(escape($0.error))</p>" }
                ?? "<p>No dead letters.</p>"
            let charts = SVGChart.draw(title: "Events applied per second", unit: "/s", series: [(name, node.samples.series(name) { $0.rate })])
                + SVGChart.draw(title: "Lag", unit: "events", series: [(name, node.samples.series(name) { Double($0.lag) })])
            return StatusPage.html(title: "wzt: \(name)", body: nav(access, request) + """
                <h1>Module \(escape(name))</h1>
                <table id="module"><tr><th>state</th><td>\(escape(module.state()))</td></tr>
                <tr><th>cursor</th><td>\(position.cursor)</td></tr><tr><th>lag</th><td>\(position.lag)</td></tr>
                <tr><th>applied/s</th><td>\(Int(position.appliedPerSecond))</td></tr><tr><th>behind</th><td>\(String(format: "%.1f s", position.secondsBehind))</td></tr>
                <tr><th>takes</th><td>\(escape(module.patterns.map(\.rawValue).joined(separator: ", ")))</td></tr>
                <tr><th>dead letters</th><td><a href="/dead-letters">\(letters.count)</a></td></tr></table>
                \(lastError)
                \(charts)
                """)
        }
    }

    /// The links of every console page, and the log-out button of a session.
    static func nav(_ access: Access, _ request: Request) -> String {
        var links = #"<nav><a href="/">Status</a> · <a href="/events">Events</a> · <a href="/dead-letters">Dead letters</a>"#
        if let token = access.sessions.session(request, users: access.users)?.csrf {
            links += #" · <form class="inline" action="/logout" method="post"><input type="hidden" name="csrf" value="\#(token)"><button>Log out</button></form>"#
        }
        return links + "</nav>\n"
    }

    /// The Retry and Discard buttons of an open dead letter, each a form with the session's form token.
    private static func actions(_ id: Int64, token: String) -> String {
        [("retry", "Retry"), ("discard", "Discard")].map { action, label in
            #"<form class="inline" action="/dead-letters/\#(id)/\#(action)" method="post"><input type="hidden" name="csrf" value="\#(escape(token))"><button name="do" value="\#(action)">\#(label)</button></form>"#
        }.joined(separator: " ")
    }

    /// A case reference that opens its timeline.
    static func caseLink(_ subject: String) -> String {
        "<a href=\"/cases?subject=\(escapeQuery(subject))\">\(escape(subject))</a>"
    }

    private static func loginPage(next: String?, problem: String?, status: HTTPResponse.Status = .ok) -> Response {
        let message = problem.map { "<p class=\"bad\">\(escape($0))</p>" } ?? ""
        return StatusPage.html(status: status, title: "wzt: log in", body: """
            <h1>Log in</h1>
            \(message)
            <form action="/login" method="post">
            <input type="hidden" name="next" value="\(escape(safe(next)))">
            <label>Token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
            <button>Log in</button>
            </form>
            <p>The token of an operator from <code>http.users</code>. The session lasts \(Sessions.lifetime / 3600) hours or until the node restarts.</p>
            """)
    }

    /// Where to go after logging in: a path of this node only, never another site.
    private static func safe(_ next: String?) -> String {
        // Browsers drop tabs and line breaks from a URL, so "/<TAB>/host" would become "//host":
        // no control character, space or backslash anywhere.
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"),
              !next.unicodeScalars.contains(where: { $0.value <= 0x20 || ($0.value >= 0x7F && $0.value <= 0x9F) || $0 == "\\" }) else { return "/" }
        return next
    }

    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    /// The fields of a form posted as application/x-www-form-urlencoded.
    private static func form(_ request: Request) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 16_384)
        var fields: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    static func escape(_ text: String) -> String { StatusPage.escape(text) }

    static func escapeQuery(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }
}

/// Times as people in Brussels read them, summer time or not.
enum BrusselsTime {
    static let zone = TimeZone(identifier: "Europe/Brussels") ?? .gmt

    /// An RFC 3339 moment (an event's `time`, the log's `appended_at`) as local time, or the text itself.
    static func text(_ moment: String) -> String { EventTime.parse(moment).map(text) ?? moment }

    static func text(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }

    /// A local moment from a form (`2026-12-06T10:30`, seconds optional) as the log writes
    /// moments in UTC (`2026-12-06T09:30:00.000Z`), or nil when it is not one.
    static func utc(fromLocal text: String) -> String? {
        let parts = text.split(whereSeparator: { "-T:".contains($0) }).map { Int($0) }
        guard parts.count == 5 || parts.count == 6, !parts.contains(nil) else { return nil }
        let numbers = parts.compactMap { $0 }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let components = DateComponents(year: numbers[0], month: numbers[1], day: numbers[2], hour: numbers[3], minute: numbers[4], second: numbers.count == 6 ? numbers[5] : 0)
        guard components.isValidDate(in: calendar), let date = calendar.date(from: components) else { return nil }
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = .gmt
        let c = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.000Z", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }
}
