import AsyncHTTPClient
import Foundation
import NIOCore
import OperatorHTTP

/// Follows acked events to their outcome through the node's `GET /api/events/<id>/outcome`
/// (docs/protocol.md), printing what each caused and each refusal's code and reason.
struct OutcomeFollower {
    enum Verdict { case accepted, refused, late }

    let http: String
    let token: String?
    let timeout: Double
    /// Each outcome as the node gives it, one JSON object per line, instead of the lines below.
    var json = false

    /// `.late` as soon as the HTTP side cannot tell: the events are stored either way, so the
    /// answer is "outcome unknown", never "not sent" (which would have them sent again).
    func follow(_ ids: [String]) async throws -> Verdict {
        var verdict = Verdict.accepted
        for id in ids {
            let deadline = Date().addingTimeInterval(timeout)
            guard var outcome = try await fetch(id, until: deadline) else { return try unknown(id) }
            while !outcome.complete, Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
                guard let next = try await fetch(id, until: deadline) else { return try unknown(id) }
                outcome = next
            }
            if json { try printJSON(outcome) }
            for caused in outcome.caused where !json && !outcome.refusals.contains(where: { $0.id == caused.id }) {
                print("caused \(id) → \(caused.type) \(caused.id) offset \(caused.offset)")
            }
            for refusal in outcome.refusals {
                printError("refused \(id) by \(refusal.type) \(refusal.code): \(refusal.reason)")
                verdict = .refused
            }
            let dead = outcome.modules.filter { $0.state == "dead-lettered" }.map(\.module)
            if !dead.isEmpty {
                printError("dead-lettered \(id) by \(dead.joined(separator: ", ")): see `wzt dead-letters`")
                verdict = .refused
            }
            if !outcome.complete {
                let pending = outcome.modules.filter { $0.state == "pending" }.map(\.module)
                printError("no outcome for \(id) within \(timeout) s: \(pending.joined(separator: ", ")) not there yet (`wzt status` shows how far behind)")
                if verdict == .accepted { verdict = .late }
            } else if outcome.refusals.isEmpty, dead.isEmpty, !json {
                print("applied \(id) by \(outcome.modules.map(\.module).joined(separator: ", ").nonEmpty ?? "no module (none takes its type)")")
            }
        }
        return verdict
    }

    /// An event whose outcome the HTTP side could not tell: with `json`, a line that says so.
    private func unknown(_ id: String) throws -> Verdict {
        struct Unknown: Encodable {
            let id: String
            let outcome = "unknown"
        }
        if json { try printJSON(Unknown(id: id)) }
        return .late
    }

    /// The outcome as the node tells it now; nil, said on standard error, when it cannot be asked.
    private func fetch(_ id: String, until deadline: Date) async throws -> Outcome? {
        var request = HTTPClientRequest(url: "http://\(http)/api/events/\(id)/outcome")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let unknown = "wzt publish: \(id) is stored (acked), but its outcome is unknown"
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            let seconds = max(1, min(10, deadline.timeIntervalSinceNow))
            response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(seconds * 1000)))
            body = try await response.body.collect(upTo: 16 << 20)
        } catch {
            printError("\(unknown): no answer from the node's HTTP side at \(http) (--http HOST:PORT)")
            return nil
        }
        guard response.status == .ok else {
            let hint = response.status == .unauthorized || response.status == .forbidden ? "; set WZT_TOKEN to an operator's or an HTTP publisher's token" : ""
            printError("\(unknown): HTTP \(response.status.code) from \(http): \(String(buffer: body))\(hint)")
            return nil
        }
        guard let outcome = try? JSONDecoder().decode(Outcome.self, from: Data(body.readableBytesView)) else {
            printError("\(unknown): \(http) did not answer as a wzt node's HTTP side (--http HOST:PORT)")
            return nil
        }
        return outcome
    }
}

private extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
