import Audit
import Bus
import Foundation
import Hummingbird

/// The operator console's pages beyond the status page: logging in and out, and the dead letters
/// with retry and discard. Server-rendered forms without scripts; every change needs an operator,
/// the form token of their session, and is audited.
enum Console {
    static func add(to router: Router<BasicRequestContext>, log: EventLog, audit: AuditLog, access: Access) {
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
                let actions = letter.status == .open
                    ? action(letter.id, "retry", "Retry", token: token) + " " + action(letter.id, "discard", "Discard", token: token)
                    : "waiting for its retry"
                rows += "<tr><td>\(letter.id)</td><td>\(escape(letter.subscription))</td><td>\(escape(letter.eventType))</td><td>\(letter.eventOffset)</td>"
                    + "<td>\(escape(letter.error))</td><td>\(letter.attempts)</td><td>\(escape(letter.createdAt))</td><td>\(actions)</td></tr>\n"
            }
            let done = request.uri.queryParameters.get("done").map { "<p class=\"done\">\(escape($0))</p>" } ?? ""
            let table = letters.isEmpty ? "<p>No dead letters.</p>"
                : "<table id=\"dead-letters\"><tr><th>id</th><th>module</th><th>type</th><th>offset</th><th>error</th><th>attempts</th><th>since</th><th></th></tr>\n\(rows)</table>"
            return StatusPage.html(title: "wzt: dead letters", body: nav(access, request) + "<h1>Dead letters</h1>\n\(done)\n\(table)")
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
                done = changed ? "Dead letter \(id) is delivered to \(letter.subscription) again shortly." : "Dead letter \(id) was not open; nothing changed."
            case "discard":
                let changed = try await log.setDeadLetterStatus(id: id, to: .discarded, from: [.open, .retry])
                done = changed ? "Dead letter \(id) is discarded: \(letter.subscription) will not apply event \(letter.eventOffset)." : "Dead letter \(id) was already discarded."
            default:
                return StatusPage.html(status: .notFound, title: "wzt: no such action", body: "<p>A dead letter can be retried or discarded.</p>")
            }
            let user = access.user(request)
            let subject = try await log.event(at: letter.eventOffset)?.subject ?? "dead-letter-\(id)"
            try await audit.record(AuditEntry(actor: user?.name ?? "anyone on this host", role: HTTPUser.Role.operator.rawValue, agency: user?.agency,
                                              action: "POST \(request.uri.path)", subject: subject, purpose: "operations", outcome: .allowed))
            return redirect(to: "/dead-letters?done=" + escapeQuery(done))
        }
    }

    /// The links of every console page, and the log-out button of a session.
    static func nav(_ access: Access, _ request: Request) -> String {
        var links = #"<nav><a href="/">Status</a> · <a href="/dead-letters">Dead letters</a>"#
        if let token = access.sessions.session(request, users: access.users)?.csrf {
            links += #" · <form class="inline" action="/logout" method="post"><input type="hidden" name="csrf" value="\#(token)"><button>Log out</button></form>"#
        }
        return links + "</nav>\n"
    }

    private static func action(_ id: Int64, _ action: String, _ label: String, token: String) -> String {
        #"<form class="inline" action="/dead-letters/\#(id)/\#(action)" method="post"><input type="hidden" name="csrf" value="\#(escape(token))"><button name="do" value="\#(action)">\#(label)</button></form>"#
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
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\") else { return "/" }
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
