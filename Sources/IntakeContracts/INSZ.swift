/// A Belgian national number (INSZ / rijksregisternummer): 11 digits `YYMMDDSSSCC`.
///
/// The check number is 97 − (first 9 digits mod 97); for people born in 2000 or later the
/// 9 digits are prefixed with `2` before taking the modulus (DOMAIN.md, "Identifiers and privacy").
/// Dots, dashes and spaces are accepted on input and dropped. Never logged.
public struct INSZ: Hashable, Sendable, Codable, CustomStringConvertible {
    public let digits: String

    public init(_ text: String) throws(INSZError) {
        var digits: [UInt8] = []
        digits.reserveCapacity(11)
        for byte in text.utf8 where byte != UInt8(ascii: ".") && byte != UInt8(ascii: "-") && byte != UInt8(ascii: " ") {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits.count < 11 else {
                throw INSZError("an INSZ has 11 digits (YYMMDDSSSCC); dots, dashes and spaces are allowed")
            }
            digits.append(byte - UInt8(ascii: "0"))
        }
        guard digits.count == 11 else {
            throw INSZError("an INSZ has 11 digits (YYMMDDSSSCC); dots, dashes and spaces are allowed")
        }
        let base = digits[0..<9].reduce(0) { $0 * 10 + Int($1) }
        let check = Int(digits[9]) * 10 + Int(digits[10])
        let before2000 = 97 - base % 97
        let from2000 = 97 - (2_000_000_000 + base) % 97
        guard check == before2000 || check == from2000 else {
            throw INSZError("the INSZ check digits do not match (97 minus the first 9 digits mod 97, with a leading 2 for births from 2000)")
        }
        self.digits = String(decoding: digits.map { $0 + UInt8(ascii: "0") }, as: UTF8.self)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try INSZ(text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(digits)
    }

    /// Masked: an INSZ must never reach a log line by accident.
    public var description: String { "INSZ(***********)" }
}

public struct INSZError: Error, Hashable, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
}
