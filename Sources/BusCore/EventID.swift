import Foundation
import PluginAPI

/// Event ids: UUIDs (v7 when wzt makes them, so they sort by creation time) or ULIDs.
public enum EventID {
    /// A new UUIDv7: 48 bits of Unix milliseconds, then random bits.
    public static func make(at date: Date = Date()) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - index))) }
        var random = SystemRandomNumberGenerator()
        for index in 6..<16 { bytes[index] = random.next() }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        let hex = bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        let characters = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }

    /// A canonical UUID (36 characters, any version) or a ULID (26 Crockford base-32 characters).
    public static func isValid(_ id: String) -> Bool {
        let utf8 = id.utf8
        if utf8.count == 36 {
            var index = 0
            for byte in utf8 {
                let dash = index == 8 || index == 13 || index == 18 || index == 23
                guard dash ? byte == UInt8(ascii: "-") : isHex(byte) else { return false }
                index += 1
            }
            return true
        }
        if utf8.count == 26 {
            return utf8.allSatisfy(isCrockford) && utf8.first! <= UInt8(ascii: "7")
        }
        return false
    }

    /// A valid id as the log keeps it: a UUID in lower case, a ULID in upper case.
    public static func canonical(_ id: String) -> String {
        id.utf8.count == 36 ? id.lowercased() : id.uppercased()
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
    }

    private static func isCrockford(_ byte: UInt8) -> Bool {
        let upper = byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte
        if upper >= 0x30 && upper <= 0x39 { return true }
        guard upper >= 0x41 && upper <= 0x5A else { return false }
        return !"ILOU".utf8.contains(upper)
    }
}

/// RFC 3339 timestamps as CloudEvents uses them.
public enum EventTime {
    public static func format(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    /// The moment an RFC 3339 timestamp names, with or without a fraction of a second.
    public static func parse(_ text: String) -> Date? {
        (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) ?? (try? Date(text, strategy: .iso8601))
    }

    /// `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z` or `±HH:MM`.
    static func isValid(_ text: String) -> Bool {
        let b = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Bool { range.allSatisfy { $0 < b.count && b[$0] >= 0x30 && b[$0] <= 0x39 } }
        func char(_ index: Int, _ options: String) -> Bool { index < b.count && options.utf8.contains(b[index]) }
        guard digits(0..<4), char(4, "-"), digits(5..<7), char(7, "-"), digits(8..<10), char(10, "Tt "),
              digits(11..<13), char(13, ":"), digits(14..<16), char(16, ":"), digits(17..<19) else { return false }
        func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + Int(b[$1] - 0x30) } }
        // A real day and time of day (a leap second, :60, is not one Foundation can hold).
        let (year, month, day) = (number(0..<4), number(5..<7), number(8..<10))
        guard CalendarDate(year: year, month: month, day: day) != nil,
              number(11..<13) <= 23, number(14..<16) <= 59, number(17..<19) <= 59 else { return false }
        var index = 19
        if char(index, ".") {
            index += 1
            let start = index
            while index < b.count, b[index] >= 0x30, b[index] <= 0x39 { index += 1 }
            guard index > start else { return false }
        }
        if char(index, "Zz") { return index + 1 == b.count }
        return char(index, "+-") && digits(index + 1..<index + 3) && char(index + 3, ":") && digits(index + 4..<index + 6) && index + 6 == b.count
            && number(index + 1..<index + 3) <= 23 && number(index + 4..<index + 6) <= 59
    }
}

extension String {
    package func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
