import NIOCore
import NIOExtras
import NIOPosix

/// Hands one message to an SMTP relay (RFC 5321: EHLO, MAIL, RCPT, DATA, QUIT). No TLS and no
/// authentication: the relay is a local MTA (or a sink in tests) that takes care of the rest.
struct SMTPClient: Sendable {
    let host: String
    let port: Int

    func send(from: String, to recipients: [String], message: String) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()

            /// Reads one reply (the lines of a multi-line reply have a '-' after the code) and checks its code.
            func expect(_ accepted: Set<Int>, after command: String) async throws {
                while true {
                    guard var buffer = try await replies.next() else { throw SMTPError(command: command, reply: "connection closed") }
                    let line = buffer.readString(length: buffer.readableBytes) ?? ""
                    let utf8 = Array(line.utf8)
                    if utf8.count > 3 && utf8[3] == UInt8(ascii: "-") { continue }
                    guard let code = Int(line.prefix(3)), accepted.contains(code) else { throw SMTPError(command: command, reply: String(line.prefix(200))) }
                    return
                }
            }
            func send(_ text: String) async throws { try await outbound.write(ByteBuffer(string: text)) }

            try await expect([220], after: "connect")
            try await send("EHLO wzt\r\n")
            try await expect([250], after: "EHLO")
            try await send("MAIL FROM:<\(from)>\r\n")
            try await expect([250], after: "MAIL FROM")
            for recipient in recipients {
                try await send("RCPT TO:<\(recipient)>\r\n")
                try await expect([250, 251], after: "RCPT TO")
            }
            try await send("DATA\r\n")
            try await expect([354], after: "DATA")
            try await send(Self.dotStuffed(message) + "\r\n.\r\n")
            try await expect([250], after: "end of data")
            try await send("QUIT\r\n")
            try? await expect([221], after: "QUIT")
        }
    }

    /// CRLF line ends, and a leading '.' doubled so that no line ends the data early (RFC 5321 4.5.2).
    static func dotStuffed(_ message: String) -> String {
        // "\r\n" is one Character in Swift: unify line ends before splitting.
        message.replacingOccurrences(of: "\r\n", with: "\n")
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(".") ? "." + $0 : String($0) }
            .joined(separator: "\r\n")
    }
}

struct SMTPError: Error, CustomStringConvertible {
    let command: String
    let reply: String
    var description: String { "SMTP relay refused \(command): \(reply)" }
}
