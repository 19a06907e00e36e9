import Hummingbird

/// Someone who reads through the HTTP side, with a bearer token from config (`[[http.users]]`).
public struct HTTPUser: Sendable, Hashable {
    public enum Role: String, Sendable, CaseIterable {
        /// Sees the platform's health: readiness details, metrics, the status page. No case documents.
        case `operator`
        /// Reads the case documents of their own agency through `/api`. No health details.
        case caseworker
    }

    public var name: String
    public var token: String
    public var role: Role
    /// A caseworker's agency, and the organisation ids it appears under in events (an office, a
    /// casemanager's organisation, a supervisor, a network partner).
    public var agency: String?
    public var organisations: Set<String>

    public init(name: String, token: String, role: Role, agency: String? = nil, organisations: Set<String> = []) {
        self.name = name
        self.token = token
        self.role = role
        self.agency = agency
        self.organisations = organisations
    }
}

/// Who may see what on the HTTP side. Health details (readiness problems, metrics, the status
/// page) are for operators; case documents for caseworkers of the agencies they concern. With no
/// users configured and HTTP on loopback, the operator pages are open (a developer's machine) and
/// the case API refuses everyone. Scripts present a bearer token; browsers log in once and carry
/// a session cookie (`Sessions`).
struct Access: Sendable {
    let users: [HTTPUser]
    let operatorPagesOpen: Bool
    let sessions: Sessions

    init(users: [HTTPUser], host: String, sessions: Sessions = Sessions()) {
        self.users = users
        operatorPagesOpen = users.isEmpty && ["127.0.0.1", "::1", "localhost"].contains(host)
        self.sessions = sessions
    }

    /// The user whose token the request presents, or whose session it carries.
    func user(_ request: Request) -> HTTPUser? { bearer(request) ?? sessions.session(request, users: users)?.user }

    func bearer(_ request: Request) -> HTTPUser? { Bearer.match(request, users, token: \.token) }

    /// Nil when the request may see health details; otherwise the refusal to send. A browser
    /// that has not logged in is sent to the login form.
    func refuseUnlessOperator(_ request: Request) -> Response? {
        if operatorPagesOpen { return nil }
        guard let user = user(request) else {
            if request.method == .get, request.headers[.accept]?.contains("text/html") == true {
                return Console.redirect(to: "/login?next=" + Console.escapeQuery(request.uri.description))
            }
            return Bearer.unauthorized("send `Authorization: Bearer <token>` with the token of an operator from http.users, or log in at /login")
        }
        guard user.role == .operator else {
            return HTTPIngress.problem(.forbidden, code: "forbidden", "user \(user.name) has role \(user.role.rawValue); this is for the operator role")
        }
        return nil
    }

    /// The token a form shown to this request must send back to change anything, or nil when
    /// the request has no session (a script with a bearer token needs none).
    func formToken(_ request: Request) -> String? {
        sessions.session(request, users: users)?.csrf ?? (operatorPagesOpen ? sessions.openPagesCSRF : nil)
    }

    /// Where the browser says the request comes from (`Sec-Fetch-Site`): same-origin, same-site, cross-site or none.
    static func fetchSite(_ request: Request) -> String? { request.headers.first { $0.name.canonicalName == "sec-fetch-site" }?.value }

    /// Nil when an operator may make this change: with a bearer token, or from a page of this
    /// node that carried its form token (`csrf`), never from a page of another site.
    func refuseChange(_ request: Request, csrf: String?) -> Response? {
        if let refusal = refuseUnlessOperator(request) { return refusal }
        if bearer(request) != nil { return nil }
        // Browsers say where a request comes from; a form posted from another site is refused even with a token.
        let fromElsewhere = Self.fetchSite(request).map { $0 != "same-origin" && $0 != "none" } ?? false
        guard !fromElsewhere, let expected = formToken(request), let csrf, Bearer.constantTimeEquals(Array(expected.utf8), Array(csrf.utf8)) else {
            return HTTPIngress.problem(.forbidden, code: "forbidden", "the form did not come from this node's page in this session; reload the page and try again")
        }
        return nil
    }
}

/// Bearer tokens, compared in constant time.
enum Bearer {
    static func match<T>(_ request: Request, _ candidates: [T], token: (T) -> String) -> T? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        let presented = Array(header.dropFirst("Bearer ".count).utf8)
        return candidates.first { constantTimeEquals(Array(token($0).utf8), presented) }
    }

    static func unauthorized(_ detail: String) -> Response {
        HTTPIngress.problem(.unauthorized, code: "unauthorized", detail, headers: [.wwwAuthenticate: #"Bearer realm="wzt""#])
    }

    /// Compares without stopping at the first difference, so timing does not reveal a token's prefix.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
