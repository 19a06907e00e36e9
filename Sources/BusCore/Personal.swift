import Foundation

/// A field of an event's data that holds personal data (an INSZ, a name). A publisher sends the
/// value itself; the log keeps it sealed with the key of the event's subject (`SubjectKeys`); a
/// module is handed the value again, or `.erased` once the subject's key was deleted. A contract
/// lists such fields in `personalFields`, and a module must say what it does without them.
public enum Personal<Value: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    case value(Value)
    /// As the log holds it, for readers that have no key: base64 of nonce, ciphertext and tag,
    /// and the id of the key it was sealed with (none for values sealed before key ids).
    case sealed(String, key: Int64?)
    /// The subject's key was deleted (right to erasure): the value is gone for good.
    case erased

    public var value: Value? {
        if case .value(let value) = self { return value }
        return nil
    }

    private enum Marker: String, CodingKey { case sealed, key, erased }

    public init(from decoder: any Decoder) throws {
        // The value first: it is what publishers send and modules get, and it decodes without
        // throwing, which is the expensive path of Codable.
        do {
            self = .value(try Value(from: decoder))
        } catch let notAValue {
            guard let marker = try? decoder.container(keyedBy: Marker.self), marker.contains(.sealed) || marker.contains(.erased) else {
                throw notAValue
            }
            guard decoder.userInfo[EnvelopeHeader.refusesStoredFormsKey] as? Bool != true else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "send the value itself; sealed and erased forms are the log's"))
            }
            if let sealed = try marker.decodeIfPresent(String.self, forKey: .sealed) {
                self = .sealed(sealed, key: try marker.decodeIfPresent(Int64.self, forKey: .key))
            } else {
                self = .erased
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .value(let value): try value.encode(to: encoder)
        case .sealed(let sealed, let key):
            var container = encoder.container(keyedBy: Marker.self)
            try container.encode(sealed, forKey: .sealed)
            try container.encodeIfPresent(key, forKey: .key)
        case .erased:
            var container = encoder.container(keyedBy: Marker.self)
            try container.encode(true, forKey: .erased)
        }
    }
}
