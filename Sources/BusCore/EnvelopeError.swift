/// Why an event was refused. `code` is stable and is what a publisher sees in a nack;
/// `reason` says what to fix. Neither ever contains the event's data.
public struct EnvelopeError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible, CaseIterable {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let tooLarge = Code("too-large")
        /// Valid JSON with more members than an envelope or its `data` may have.
        public static let tooComplex = Code("too-complex")
        public static let emptyMessage = Code("empty-message")
        public static let extraFrames = Code("extra-frames")
        public static let malformedJSON = Code("malformed-json")
        public static let missingAttribute = Code("missing-attribute")
        public static let badSpecVersion = Code("bad-specversion")
        public static let badID = Code("bad-id")
        public static let badAttribute = Code("bad-attribute")
        public static let unknownType = Code("unknown-type")
        public static let unsupportedDataVersion = Code("unsupported-dataversion")
        public static let invalidData = Code("invalid-data")
        /// The publisher (its CURVE key or HTTP token) may not publish this type.
        public static let forbidden = Code("forbidden")
        /// The event does not say who caused it and for which purpose, and its publisher is not
        /// a system publisher (`privacy.system_publishers`).
        public static let missingActor = Code("missing-actor")
        /// The event was valid but could not be stored (disk full, I/O error).
        public static let storageFailed = Code("storage-failed")
        /// The node is shutting down and takes no new events; retry against it later.
        public static let unavailable = Code("unavailable")

        /// Every code, for counters that exist at 0 before the first refusal and for the docs.
        public static let allCases: [Code] = [
            .tooLarge, .tooComplex, .emptyMessage, .extraFrames, .malformedJSON, .missingAttribute, .badSpecVersion, .badID, .badAttribute, .unknownType, .unsupportedDataVersion, .invalidData, .forbidden, .missingActor, .storageFailed, .unavailable,
        ]
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code): \(reason)" }
}
