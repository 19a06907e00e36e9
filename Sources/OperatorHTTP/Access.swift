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
/// the case API refuses everyone.
struct Access: Sendable {
    let users: [HTTPUser]
    let operatorPagesOpen: Bool

    init(users: [HTTPUser], host: String) {
        self.users = users
        operatorPagesOpen = users.isEmpty && ["127.0.0.1", "::1", "localhost"].contains(host)
    }

    /// The user whose token the request presents, if any.
    func user(_ request: Request) -> HTTPUser? { Bearer.match(request, users, token: \.token) }

    /// Nil when the request may see health details; otherwise the refusal to send.
    func refuseUnlessOperator(_ request: Request) -> Response? {
        if operatorPagesOpen { return nil }
        guard let user = user(request) else { return Bearer.unauthorized("send `Authorization: Bearer <token>` with the token of an operator from http.users") }
        guard user.role == .operator else {
            return HTTPIngress.problem(.forbidden, code: "forbidden", "user \(user.name) has role \(user.role.rawValue); health details are for the operator role")
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
    private static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
