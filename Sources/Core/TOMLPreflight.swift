/// Checks a config file for what the TOML parser (toml++ inside TOMLKit) does not report but
/// asserts on, which ends the process instead of naming the mistake: a table header whose name
/// starts with neither a bare-key character nor a quote (`[#x]`, `[*]`, `[ä]`), a `}` where an
/// array's value should be (`[1, }`), and control characters, which TOML allows nowhere but as tab
/// and line ends.
enum TOMLPreflight {
    struct Problem: Equatable {
        let line: Int
        let column: Int
        let message: String
    }

    /// The first such problem, or nil. Follows strings, comments and the brackets of values just
    /// enough to tell a table header from an array that starts a line.
    static func problem(in text: String) -> Problem? {
        let bytes = Array(text.utf8)
        var within: Within?
        var line = 1, lineStart = 0
        // The `[` and `{` of values still open, and whether an array's next value comes next.
        var open: [UInt8] = []
        var onlySpaceSoFar = true, inHeader = false, arrayValueNext = false
        var index = 0
        // A byte order mark, which the parser skips.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            index = 3
            lineStart = 3
        }
        func starts(_ token: String) -> Bool { bytes[index...].starts(with: token.utf8) }
        func problem(_ message: String, at position: Int) -> Problem {
            // Columns count characters, as the parser's own messages do.
            Problem(line: line, column: String(decoding: bytes[lineStart..<position], as: UTF8.self).count + 1, message: message)
        }
        while index < bytes.count {
            let byte = bytes[index]
            if isControlCharacter(byte) {
                let code = String(byte, radix: 16, uppercase: true)
                return problem("control character U+\(String(repeating: "0", count: 4 - code.count) + code); TOML allows tabs and line ends only", at: index)
            }
            if byte == 0x0A {
                line += 1
                lineStart = index + 1
                onlySpaceSoFar = true
                inHeader = false
                if within == .comment || within == .basic || within == .literal { within = nil }
                index += 1
                continue
            }
            switch within {
            case .comment:
                break
            case .basic:
                if byte == UInt8(ascii: "\\") { index += 1 } else if byte == UInt8(ascii: "\"") { within = nil }
            case .literal:
                if byte == UInt8(ascii: "'") { within = nil }
            case .multilineBasic:
                if byte == UInt8(ascii: "\\") { index += 1 } else if starts("\"\"\"") { within = nil; index += 2 }
            case .multilineLiteral:
                if starts("'''") { within = nil; index += 2 }
            case nil:
                let startsLine = onlySpaceSoFar
                let significant = byte != 0x20 && byte != 0x09 && byte != 0x0D
                if significant { onlySpaceSoFar = false }
                if significant, byte != UInt8(ascii: "#"), arrayValueNext {
                    arrayValueNext = false
                    if byte == UInt8(ascii: "}") { return problem("an array holds values: a value or `]` was expected, and `}` came", at: index) }
                }
                if byte == UInt8(ascii: "#") {
                    within = .comment
                } else if starts("\"\"\"") {
                    within = .multilineBasic
                    index += 2
                } else if starts("'''") {
                    within = .multilineLiteral
                    index += 2
                } else if byte == UInt8(ascii: "\"") {
                    within = .basic
                } else if byte == UInt8(ascii: "'") {
                    within = .literal
                } else if byte == UInt8(ascii: "["), startsLine, open.isEmpty {
                    inHeader = true
                    var name = index + 1
                    if name < bytes.count, bytes[name] == UInt8(ascii: "[") { name += 1 }
                    while name < bytes.count, bytes[name] == 0x20 || bytes[name] == 0x09 { name += 1 }
                    // A control character there (not a line end) is reported as such when the scan reaches it.
                    if name < bytes.count, !startsTableName(bytes[name]), !isControlCharacter(bytes[name]) || bytes[name] == 0x0A || bytes[name] == 0x0D {
                        return problem("a table name starts with a letter, digit, `_`, `-` or a quote, e.g. [data]", at: name)
                    }
                } else if !inHeader, byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                    open.append(byte)
                    arrayValueNext = byte == UInt8(ascii: "[")
                } else if !inHeader, byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                    _ = open.popLast()
                } else if byte == UInt8(ascii: ","), open.last == UInt8(ascii: "[") {
                    arrayValueNext = true
                }
            }
            index += 1
        }
        return nil
    }

    private enum Within {
        case comment, basic, literal, multilineBasic, multilineLiteral
    }

    /// A control character TOML allows nowhere (tab and line ends are allowed).
    private static func isControlCharacter(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D) || byte == 0x7F
    }

    /// A bare-key character, a quote, or the `]` the parser itself reports (a line end it does not).
    private static func startsTableName(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "]"):
            true
        default:
            false
        }
    }
}
