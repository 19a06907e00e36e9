import Foundation
import Synchronization
import PluginAPI

/// Event ids: UUIDs (v7 when wzt makes them, so they sort by creation time) or ULIDs.
public enum EventID {
    /// A new UUIDv7: 48 bits of Unix milliseconds, then random bits.
    public static func make(at date: Date = Date()) -> String {
        // 48 bits hold milliseconds until the year 10889.
        let millis = UInt64(min(max(0, date.timeIntervalSince1970 * 1000), 0xFFFF_FFFF_FFFF))
        var (high, low) = RandomBits.next()
        // version 7 in bits 48-51, variant 0b10 in bits 64-65
        high = millis << 16 | 0x7000 | high & 0x0FFF
        low = 0x8000_0000_0000_0000 | low & 0x3FFF_FFFF_FFFF_FFFF
        return String(unsafeUninitializedCapacity: 36) { text in
            var index = 0
            for nibble in 0..<32 {
                if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                    text[index] = UInt8(ascii: "-")
                    index += 1
                }
                let word = nibble < 16 ? high : low
                text[index] = hexDigits[Int(word >> (60 - 4 * (nibble % 16)) & 0xF)]
                index += 1
            }
            return index
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

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
        if let moment = parseUTC(text) { return moment }
        return (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) ?? (try? Date(text, strategy: .iso8601))
    }

    /// `YYYY-MM-DDTHH:MM:SS.fffZ`, as `format` writes it, read without Foundation's parser, which
    /// cost a module more than the rest of reading where its event came from; nil for any other form.
    static func parseUTC(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { b -> Date? in
            guard b.count == 24, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"), b[13] == UInt8(ascii: ":"),
                  b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."), b[23] == UInt8(ascii: "Z") else { return nil }
            func number(_ range: Range<Int>) -> Int? {
                var value = 0
                for index in range {
                    guard b[index] >= 0x30, b[index] <= 0x39 else { return nil }
                    value = value * 10 + Int(b[index] - 0x30)
                }
                return value
            }
            guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
                  let minute = number(14..<16), let second = number(17..<19), let milliseconds = number(20..<23),
                  let date = CalendarDate(year: year, month: month, day: day), hour <= 23, minute <= 59, second <= 59 else { return nil }
            // Whole seconds since 2001, then the fraction: the same sum Foundation makes.
            let seconds = date.daysSinceEpoch * 86_400 + hour * 3_600 + minute * 60 + second - 978_307_200
            return Date(timeIntervalSinceReferenceDate: Double(seconds) + Double(milliseconds) / 1_000)
        }
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

/// Random bits for ids, read from `/dev/urandom` 4 KiB at a time: `SystemRandomNumberGenerator`
/// makes a system call for every 8 bytes, which was a tenth of a module's work per published event.
private enum RandomBits {
    private static let pool = Mutex(Pool())

    private struct Pool: ~Copyable {
        var words = [UInt64](repeating: 0, count: 512)
        var used = 512

        mutating func next() -> UInt64 {
            if used == words.count {
                let filled = words.withUnsafeMutableBytes { bytes in
                    let urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
                    guard urandom >= 0 else { return false }
                    defer { close(urandom) }
                    return read(urandom, bytes.baseAddress, bytes.count) == bytes.count
                }
                if !filled {
                    var generator = SystemRandomNumberGenerator()
                    for index in words.indices { words[index] = generator.next() }
                }
                used = 0
            }
            defer { used += 1 }
            return words[used]
        }
    }

    static func next() -> (UInt64, UInt64) {
        pool.withLock { pool in (pool.next(), pool.next()) }
    }
}

extension String {
    package func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
