import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import ModuleKit
import NIOCore

/// Sends pending notifications, one channel beside the other, and records every attempt.
struct Courier: Sendable {
    let configuration: NotificationsConfiguration
    let outbox: NotificationsQueries
    let clock: any BusClock
    let logger: Logger

    /// Delivers until cancelled: what is due now, then sleeps until the next retry is due, new
    /// notifications are committed, or a few seconds pass (a retry asked by `wzt notifications retry`).
    func run(added: Signal) async throws {
        while !Task.isCancelled {
            do {
                let due = try await outbox.due(now: clock.now(), limit: 64)
                await withTaskGroup(of: Void.self) { group in
                    for (channel, notifications) in Dictionary(grouping: due, by: \.channel) {
                        group.addTask { for notification in notifications { await deliver(notification, channelName: channel) } }
                    }
                }
                if due.count == 64 { continue }
                let next = try await outbox.nextAttempt()
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await added.wait() }
                    if let next { group.addTask { try? await clock.sleep(until: next) } }
                    group.addTask { try? await Task.sleep(for: .seconds(5)) }
                    await group.next()
                    group.cancelAll()
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("notifications paused", metadata: ["wzt.error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    func deliver(_ notification: PendingNotification, channelName: String) async {
        let attempt = notification.attempts + 1
        let outcome: DeliveryOutcome
        if let channel = configuration.channels.first(where: { $0.name == channelName }) {
            do {
                try await send(notification, over: channel)
                outcome = .delivered
            } catch let failure as WebhookRefused where !failure.worthRetrying {
                outcome = .failed(failure.description)
            } catch {
                let detail = String("\(error)".prefix(500))
                outcome = attempt >= configuration.maxAttempts ? .failed(detail) : .retry(detail, at: clock.now().addingTimeInterval(seconds(configuration.retryDelay(afterAttempt: attempt))))
            }
        } else {
            outcome = .failed("channel \(channelName) is no longer configured")
        }
        if case .failed(let detail) = outcome {
            logger.warning("notification undeliverable", metadata: ["wzt.notification": "\(notification.id)", "wzt.channel": "\(channelName)", "wzt.error": "\(detail)"])
        }
        do {
            try await outbox.record(notification.id, attempt: attempt, outcome: outcome, at: clock.now())
        } catch {
            logger.error("notification attempt not recorded; it is sent again", metadata: ["wzt.notification": "\(notification.id)", "wzt.error": "\(error)"])
        }
    }

    private func send(_ notification: PendingNotification, over channel: Channel) async throws {
        let look = channel.link.map { $0.replacingOccurrences(of: "{reference}", with: notification.reference) }
            ?? "wzt module \(notification.module), reference \(notification.reference)"
        switch channel.kind {
        case .webhook(let url, let secret):
            let body = try WebhookBody(notification, look: look).encoded()
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "WZT-Notification-Id", value: notification.id)
            request.headers.add(name: "WZT-Signature", value: WebhookSignature.header(body: body, secret: secret, at: clock.now()))
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(seconds(configuration.timeout) * 1000)))
            _ = try? await response.body.collect(upTo: 64 << 10)
            guard (200..<300).contains(response.status.code) else { throw WebhookRefused(status: Int(response.status.code)) }
        case .email(let host, let port, let from, let to):
            let message = EmailMessage(notification, look: look, from: from, to: to, date: clock.now()).text
            try await withTimeout(configuration.timeout) { try await SMTPClient(host: host, port: port).send(from: from, to: to, message: message) }
        }
    }
}

private func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// The receiver answered with a status other than 2xx.
struct WebhookRefused: Error, CustomStringConvertible {
    let status: Int
    /// A 4xx other than 408 and 429 says the request itself is wrong: sending it again will not help.
    var worthRetrying: Bool { !(400..<500).contains(status) || status == 408 || status == 429 }
    var description: String { "the receiver answered HTTP \(status)" }
}

/// `WZT-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the receiver checks it
/// with its copy of the channel's secret and rejects old timestamps to stop replays.
enum WebhookSignature {
    static func header(body: [UInt8], secret: String, at date: Date) -> String {
        let timestamp = String(Int(date.timeIntervalSince1970))
        let signed = Array((timestamp + ".").utf8) + body
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }
}

/// The JSON a webhook receives: what happened, a reference, where to look. Nothing personal.
struct WebhookBody: Encodable {
    let notification: String
    let event: String
    let type: String
    let module: String
    let reference: String
    let what: String
    let look: String
    let created: String

    init(_ notification: PendingNotification, look: String) {
        self.notification = notification.id
        event = notification.eventID
        type = notification.eventType
        module = notification.module
        reference = notification.reference
        what = notification.what
        self.look = look
        created = notification.createdAt.formatted(.iso8601)
    }

    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }
}

/// A plain-text mail with the same content as the webhook body.
struct EmailMessage {
    let text: String

    init(_ notification: PendingNotification, look: String, from: String, to: [String], date: Date) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        text = """
            From: \(from)
            To: \(to.joined(separator: ", "))
            Subject: wzt \(notification.module): \(notification.reference)
            Date: \(formatter.string(from: date))
            Message-ID: <\(notification.id)@wzt>
            MIME-Version: 1.0
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: 8bit

            \(notification.what)

            Reference: \(notification.reference)
            Where to look: \(look)

            This message carries no personal data; look the case up with its reference.
            """
    }
}
