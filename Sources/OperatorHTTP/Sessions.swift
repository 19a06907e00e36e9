import Crypto
import Foundation
import Hummingbird
import Synchronization

/// Browser sessions for the operator console. A user gives their token once on the login form;
/// the node answers with a cookie that names the user and an expiry, signed with a key that
/// lives only in this process (a restart ends every session). The signature also covers the
/// user's token, so a token changed in config no longer opens the sessions made with it.
struct Sessions: Sendable {
    static let cookieName = "wzt_session"
    static let lifetime = 8 * 3600
    private let key: SymmetricKey
    /// Sessions logged out before they expired, by their nonce, with their expiry: a copy of the
    /// cookie kept elsewhere opens nothing after a log-out.
    private let ended = EndedSessions()

    init(key: SymmetricKey = SymmetricKey(size: .bits256)) {
        self.key = key
    }

    struct Session: Sendable {
        let user: HTTPUser
        let nonce: String
        let expiry: Int
        /// The token that state-changing forms of this session carry (`csrf`): a page of another
        /// site cannot read it, so it cannot make the browser send it.
        let csrf: String
    }

    /// The cookie that opens a session for `user` until `lifetime` seconds from `now`.
    func cookie(for user: HTTPUser, now: Date = Date()) -> Cookie {
        let nonce = Self.base64URL(Data(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }))
        let payload = "\(Self.base64URL(Data(user.name.utf8))).\(Int(now.timeIntervalSince1970) + Self.lifetime).\(nonce)"
        return Cookie(name: Self.cookieName, value: payload + "." + signature(payload, token: user.token), maxAge: Self.lifetime, path: "/",
                      httpOnly: true, sameSite: .strict)
    }

    /// A cookie that ends the session in the browser.
    static var ended: Cookie { Cookie(name: cookieName, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict) }

    /// The session the request's cookie opens: signed by this process, not expired, for a user
    /// still configured with the same token.
    func session(_ request: Request, users: [HTTPUser], now: Date = Date()) -> Session? {
        guard let value = request.cookies[Self.cookieName]?.value else { return nil }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, let nameData = Self.data(base64URL: parts[0]), let expiry = Int(parts[1]),
              expiry > Int(now.timeIntervalSince1970) else { return nil }
        let name = String(decoding: nameData, as: UTF8.self)
        let payload = parts[0...2].joined(separator: ".")
        guard let user = users.first(where: { $0.name == name }),
              Bearer.constantTimeEquals(Array(signature(payload, token: user.token).utf8), Array(parts[3].utf8)) else { return nil }
        guard !ended.contains(parts[2]) else { return nil }
        return Session(user: user, nonce: parts[2], expiry: expiry, csrf: signature("csrf." + parts[2], token: user.token))
    }

    /// Ends `session` here too, not only in the browser.
    func end(_ session: Session, now: Date = Date()) {
        ended.insert(session.nonce, until: session.expiry, now: Int(now.timeIntervalSince1970))
    }

    /// The form token of pages served without a session (pages open on a developer's loopback).
    var openPagesCSRF: String { signature("csrf.open-pages", token: "") }

    private func signature(_ payload: String, token: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array((payload + "\u{0}" + token).utf8), using: key)
        return Self.base64URL(Data(mac))
    }

    private static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func data(base64URL text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}

private final class EndedSessions: Sendable {
    private let nonces = Mutex<[String: Int]>([:])

    func contains(_ nonce: String) -> Bool { nonces.withLock { $0[nonce] != nil } }

    /// Forgets sessions past their expiry on the way: their cookies open nothing anyway.
    func insert(_ nonce: String, until expiry: Int, now: Int) {
        nonces.withLock { nonces in
            nonces = nonces.filter { $0.value > now }
            nonces[nonce] = expiry
        }
    }
}
