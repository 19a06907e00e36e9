import Audit
import Bus
import Foundation
import Hummingbird
import ModuleKit

/// `GET /api/<module>/<view>/<id>`: the documents modules offer to caseworkers (`Module.views`),
/// with the deadlines ahead and the subject's events in order. Only for caseworkers of an agency
/// the document concerns; every read of personal data, and every refusal, goes to the audit log
/// before anything is shown. `GET /api` lists the views.
enum ReadAPI {
    static func add(to router: Router<BasicRequestContext>, hosts: [ModuleHost], log: EventLog, audit: AuditLog, access: Access) {
        router.get("api") { request, _ -> Response in
            if case .refused(let refusal, let user) = caller(request, access) {
                if let user { try await audit.record(AuditEntry(refused: user, action: "GET /api", subject: "", purpose: "operations")) }
                return refusal
            }
            let views = hosts.flatMap { host in host.module.views.map { "/api/\(host.module.name)/\($0.name)/{id}" } }
            return try json(["views": views])
        }
        router.get("api/:module/:view/:id") { request, context -> Response in
            let moduleName = context.parameters.get("module") ?? "", viewName = context.parameters.get("view") ?? ""
            let id = context.parameters.get("id") ?? ""
            let action = "GET /api/\(moduleName)/\(viewName)/\(id.prefix(128))"
            let view = hosts.first { $0.module.name == moduleName }.flatMap { host in host.module.views.first { $0.name == viewName }.map { (host, $0) } }
            let purpose = view?.1.purpose.rawValue ?? "operations"
            let user: HTTPUser
            switch caller(request, access) {
            case .caseworker(let caseworker): user = caseworker
            case .refused(let response, let known):
                // Every refused attempt of a known user is traced, whatever the view holds.
                if let known { try await audit.record(AuditEntry(refused: known, action: action, subject: String(id.prefix(128)), purpose: purpose)) }
                return response
            }
            guard let (host, view) = view else {
                let known = hosts.flatMap { host in host.module.views.map { "\(host.module.name)/\($0.name)" } }.joined(separator: ", ")
                return HTTPIngress.problem(.notFound, code: "not-found", "no view \(moduleName)/\(viewName) on this node; the views here are: \(known)")
            }
            guard isValidID(id) else {
                return HTTPIngress.problem(.badRequest, code: "invalid-id", "an id is 1 to 128 letters, digits, '-', '_', '.' or ':'")
            }
            func entry(_ outcome: AuditEntry.Outcome) -> AuditEntry {
                AuditEntry(actor: user.name, role: user.role.rawValue, agency: user.agency, action: action, subject: id, purpose: view.purpose.rawValue, outcome: outcome)
            }
            // An id that does not exist and one of another agency get the same answer, so that
            // ids cannot be probed; both are traced.
            guard let (document, deadlines) = try await host.read(view, id: id), may(user, read: document) else {
                try await audit.record(entry(.refused))
                return HTTPIngress.problem(.notFound, code: "not-found", "\(moduleName) has no \(viewName) \(id) that user \(user.name) may read")
            }
            let timeline = try await log.events(subject: id).map(TimelineEntry.init)
            // Recorded before the data leaves: no read of personal data without its trace.
            if view.personalData { try await audit.record(entry(.allowed)) }
            return try json(Reply(module: moduleName, view: viewName, id: id, purpose: view.purpose.rawValue, document: AnyEncodable(document.body),
                                  deadlines: deadlines, timeline: timeline))
        }
    }

    private static func may(_ user: HTTPUser, read document: ReadDocument) -> Bool {
        switch document.audience {
        case .everyCaseworker: true
        case .organisations(let organisations): !organisations.isDisjoint(with: user.organisations)
        }
    }

    private enum Caller {
        case caseworker(HTTPUser)
        /// The answer, and who asked when the token was known.
        case refused(Response, HTTPUser?)
    }

    private static func caller(_ request: Request, _ access: Access) -> Caller {
        guard let user = access.user(request) else {
            return .refused(Bearer.unauthorized("send `Authorization: Bearer <token>` with the token of a caseworker from http.users"), nil)
        }
        guard user.role == .caseworker else {
            return .refused(HTTPIngress.problem(.forbidden, code: "forbidden", "user \(user.name) has role \(user.role.rawValue); case documents are for the caseworker role"), user)
        }
        return .caseworker(user)
    }

    static func isValidID(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count) && id.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.:".unicodeScalars.contains($0)) }
    }

    private static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    private struct Reply: Encodable {
        let module: String
        let view: String
        let id: String
        let purpose: String
        let document: AnyEncodable
        let deadlines: [Deadline]
        let timeline: [TimelineEntry]
    }

    /// One event about the subject: what happened, when, who caused it and why, and which
    /// system said so.
    struct TimelineEntry: Encodable {
        let offset: Int64
        let id: String
        let type: String
        let time: String?
        let source: String?
        let actor: String?
        let actorRole: String?
        let actorAgency: String?
        let purpose: String?

        init(_ event: StoredEvent) {
            let head = event.attributes
            offset = event.offset
            id = event.id
            type = event.type
            time = head?.time
            source = head?.source
            actor = head?.actor
            actorRole = head?.actorrole
            actorAgency = head?.actoragency
            purpose = head?.purpose
        }
    }

    private struct AnyEncodable: Encodable {
        let value: any Encodable
        init(_ value: any Encodable) { self.value = value }
        func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
    }
}

extension AuditEntry {
    /// A refused request of a known user.
    init(refused user: HTTPUser, action: String, subject: String, purpose: String) {
        self.init(actor: user.name, role: user.role.rawValue, agency: user.agency, action: action, subject: subject, purpose: purpose, outcome: .refused)
    }
}
