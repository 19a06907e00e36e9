import BusCore
import PluginAPI

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

    /// Whether this number can belong to someone born on `birthDate`: `YYMMDD` is the birth date
    /// (the month plus 20 or 40 in a bis number; month and day 00 when the date was unknown), and
    /// the check digits use the leading `2` exactly when the person was born in 2000 or later.
    public func matches(birthDate: CalendarDate) -> Bool {
        let numbers = Array(digits.utf8).map { Int($0) - 48 }
        let (yy, mm, dd) = (numbers[0] * 10 + numbers[1], numbers[2] * 10 + numbers[3], numbers[4] * 10 + numbers[5])
        let base = numbers[0..<9].reduce(0) { $0 * 10 + $1 }
        let check = numbers[9] * 10 + numbers[10]
        let century = birthDate.year >= 2000 ? 97 - (2_000_000_000 + base) % 97 : 97 - base % 97
        let unknownDate = mm % 20 == 0 && dd == 0
        let dateMatches = unknownDate || ([0, 20, 40].contains(mm - birthDate.month) && dd == birthDate.day)
        return check == century && yy == birthDate.year % 100 && dateMatches
    }

    /// Masked: an INSZ must never reach a log line by accident.
    public var description: String { "INSZ(***********)" }
}

public struct INSZError: Error, Hashable, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
}

extension INSZ: SchemaDescribed {
    public static var jsonSchema: JSONDocument {
        // Eleven digits, with dots, dashes and spaces anywhere; the check digits cannot be a pattern.
        .object(["type": .string("string"), "pattern": .string("^[ .-]*([0-9][ .-]*){11}$"),
                 "description": .string("a Belgian national number (INSZ), 11 digits YYMMDDSSSCC; dots, dashes and spaces are allowed; the check digits are checked")])
    }
    public static var schemaExample: INSZ? { try? INSZ("85073003328") }
}
