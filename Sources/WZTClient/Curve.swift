import ZeroMQ

/// What a client needs to talk to a node with CURVE on: its own key pair and the node's public key.
public struct CurveCredentials: Sendable, Hashable {
    public var keys: CurveKeyPair
    public var serverKey: String

    public init(keys: CurveKeyPair, serverKey: String) {
        self.keys = keys
        self.serverKey = serverKey
    }
}

extension Socket {
    /// A CURVE client when `credentials` are given, plain otherwise.
    public func secure(with credentials: CurveCredentials?) throws(ZeroMQError) {
        guard let credentials else { return }
        try makeCurveClient(credentials.keys, serverKey: credentials.serverKey)
    }
}
