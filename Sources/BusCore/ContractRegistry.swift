/// Every event type the bus accepts, with the versions it can read.
///
/// Built once at start-up from the contracts of all modules; immutable afterwards, so it is
/// shared freely between threads.
public struct ContractRegistry: Sendable {
    typealias DecodeData = @Sendable (DataDecoder) throws -> any EventContract

    struct Entry: Sendable {
        var contract: any EventContract.Type
        var decoders: [Int: DecodeData]
    }

    private(set) var entries: [String: Entry] = [:]

    public init() {}

    public init(_ contracts: [any EventContract.Type]) throws(EnvelopeError) {
        for contract in contracts { try register(contract) }
    }

    /// Registers a contract and, through `UpcastingContract`, every older version it reads.
    public mutating func register(_ contract: any EventContract.Type) throws(EnvelopeError) {
        let type = try EventType(contract.eventType.rawValue)
        guard contract.dataVersion >= 1 else {
            throw EnvelopeError(.unsupportedDataVersion, "contract \(type) declares dataversion \(contract.dataVersion); versions start at 1")
        }
        if let existing = entries[type.rawValue], existing.contract.dataVersion != contract.dataVersion {
            throw EnvelopeError(.unsupportedDataVersion, "contract \(type) is registered at versions \(existing.contract.dataVersion) and \(contract.dataVersion); register only the newest, which upcasts the older ones")
        }
        entries[type.rawValue] = Entry(contract: contract, decoders: Self.decoders(contract))
    }

    public var types: [EventType] { entries.keys.sorted().map { EventType(stringLiteral: $0) } }

    public func knows(_ type: EventType) -> Bool { entries[type.rawValue] != nil }

    /// The newest contract registered for `type`.
    func contract(of type: String) -> (any EventContract.Type)? { entries[type]?.contract }

    public func versions(of type: EventType) -> [Int] { entries[type.rawValue].map { $0.decoders.keys.sorted() } ?? [] }

    func decoder(for type: String, version: Int) throws(EnvelopeError) -> DecodeData {
        guard let entry = entries[type] else {
            throw EnvelopeError(.unknownType, "type \(quoted(type)) is not a known contract; known types are listed by `wzt contracts`")
        }
        guard let decoder = entry.decoders[version] else {
            throw EnvelopeError(.unsupportedDataVersion, "type \(type) has no dataversion \(version); supported: \(entry.decoders.keys.sorted().map(String.init).joined(separator: ", "))")
        }
        return decoder
    }

    private static func decoders<T: EventContract>(_ contract: T.Type) -> [Int: DecodeData] {
        var result: [Int: DecodeData] = [T.dataVersion: { try T(from: $0) }]
        if let upcasting = contract as? any UpcastingContract.Type {
            result.merge(previousDecoders(upcasting)) { newest, _ in newest }
        }
        return result
    }

    private static func previousDecoders<T: UpcastingContract>(_ contract: T.Type) -> [Int: DecodeData] {
        decoders(T.Previous.self).mapValues { decodePrevious in
            { decoder in
                guard let previous = try decodePrevious(decoder) as? T.Previous else {
                    throw EnvelopeError(.unsupportedDataVersion, "the contract chain of \(T.eventType) does not lead from this dataversion to \(T.dataVersion)")
                }
                return T(upcasting: previous)
            }
        }
    }
}
