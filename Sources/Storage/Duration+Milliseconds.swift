extension Duration {
    /// The duration in whole milliseconds (rounded towards zero), for SQL, sockets and logs that count in them.
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
