import CZeroMQ

/// A CURVE key pair in Z85 text (40 characters each), as `zmq_curve_keypair` makes them.
public struct CurveKeyPair: Sendable, Hashable {
    public let publicKey: String
    public let secretKey: String

    /// A fresh key pair from libzmq's random source.
    public static func generate() throws(ZeroMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41), secretKey = [CChar](repeating: 0, count: 41)
        try zmqCall("curve_keypair") { zmq_curve_keypair(&publicKey, &secretKey) }
        return CurveKeyPair(publicKey: String(z85: publicKey), secretKey: String(z85: secretKey))
    }

    /// The pair whose secret key is `secretKey`; nil when that is not a Z85 CURVE key.
    public init?(secretKey: String) {
        guard Curve.isKey(secretKey) else { return nil }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else { return nil }
        self.init(publicKey: String(z85: publicKey), secretKey: secretKey)
    }

    private init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
}

public enum Curve {
    /// Whether `text` is a CURVE key in Z85: 40 characters that decode to 32 bytes.
    public static func isKey(_ text: String) -> Bool {
        text.utf8.count == 40 && decode(text) != nil
    }

    /// The 32-byte key a Z85 text stands for.
    static func decode(_ text: String) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&bytes, text) == nil ? nil : bytes
    }

    /// Z85 text of a 32-byte key (as ZAP hands it over).
    public static func encode(_ key: [UInt8]) -> String? {
        guard key.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        return key.withUnsafeBufferPointer { zmq_z85_encode(&text, $0.baseAddress, 32) } == nil ? nil : String(z85: text)
    }
}

extension Socket {
    /// Makes this (not yet bound) socket a CURVE server with `secretKey`: every peer must
    /// complete the CURVE handshake, and the context's ZAP handler decides which keys may.
    public func makeCurveServer(secretKey: String, zapDomain: String = "wzt") throws(ZeroMQError) {
        try setOption(ZMQ_CURVE_SERVER, Int32(1))
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(secretKey.utf8) + [0])
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(zapDomain.utf8))
    }

    /// Makes this (not yet connected) socket a CURVE client of the server with `serverKey`.
    public func makeCurveClient(_ keys: CurveKeyPair, serverKey: String) throws(ZeroMQError) {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8) + [0])
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: Array(keys.publicKey.utf8) + [0])
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8) + [0])
    }
}

private extension String {
    /// The Z85 text libzmq wrote into `characters`, up to its terminating NUL.
    init(z85 characters: [CChar]) {
        self.init(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
