import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

/// Follows acked events to their outcome through the node's `GET /api/events/<id>/outcome`
/// (docs/protocol.md), printing what each caused and each refusal's code and reason.
struct OutcomeFollower {
    enum Verdict { case accepted, refused, late }

    let http: String
    let token: String?
    let timeout: Double

    struct Outcome: Decodable {
        struct ModuleState: Decodable { let module: String; let state: String }
        struct Caused: Decodable { let id: String; let type: String; let offset: Int64 }
        struct Refusal: Decodable { let id: String; let type: String; let code: String; let reason: String }
        let complete: Bool
        let modules: [ModuleState]
        let caused: [Caused]
        let refusals: [Refusal]
    }

    func follow(_ ids: [String]) async throws -> Verdict {
        var verdict = Verdict.accepted
        for id in ids {
            let deadline = Date().addingTimeInterval(timeout)
            var outcome = try await fetch(id)
            while !outcome.complete, Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
                outcome = try await fetch(id)
            }
            for caused in outcome.caused where !outcome.refusals.contains(where: { $0.id == caused.id }) {
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
            } else if outcome.refusals.isEmpty, dead.isEmpty {
                print("applied \(id) by \(outcome.modules.map(\.module).joined(separator: ", ").nonEmpty ?? "no module (none takes its type)")")
            }
        }
        return verdict
    }

    private func fetch(_ id: String) async throws -> Outcome {
        var request = HTTPClientRequest(url: "http://\(http)/api/events/\(id)/outcome")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            body = try await response.body.collect(upTo: 16 << 20)
        } catch {
            printError("wzt publish: cannot reach the node's HTTP side at \(http) for the outcome (--http HOST:PORT): \(error)")
            throw ExitCode.unreachable
        }
        guard response.status == .ok else {
            let hint = response.status == .unauthorized || response.status == .forbidden ? "; set WZT_TOKEN to an operator's or an HTTP publisher's token" : ""
            throw CommandFailure("the outcome of \(id): HTTP \(response.status.code) \(String(buffer: body))\(hint)")
        }
        return try JSONDecoder().decode(Outcome.self, from: Data(body.readableBytesView))
    }
}

private extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
