/// The ids that name a case, an agreement, a network, …: an envelope's `subject`, and every
/// text field of `data` whose name ends in `Id` (`caseId`, `networkId`). A module publishes what
/// follows from an event under the id the event names, so every id the node accepts must also be
/// a valid subject; one rule for both keeps it so.
public enum Identifier {
    public static let maxLength = 256
    public static let rule = "1 to 256 characters, without control characters, not only spaces"

    /// Whether a field of this name holds an id.
    public static func isNamed(by key: String) -> Bool { key.hasSuffix("Id") }

    /// 1 to `maxLength` Unicode code points (as JSON Schema counts `maxLength`), no control
    /// character (C0, DEL, C1), and at least one code point that is not Unicode white space.
    public static func isValid(_ text: String) -> Bool {
        var codePoints = 0
        var printableASCII = false
        var previous: UInt8 = 0
        for byte in text.utf8 {
            // C0 controls and DEL; C1 controls (U+0080 to U+009F) are C2 80 to C2 9F.
            if byte < 0x20 || byte == 0x7F || previous == 0xC2 && byte <= 0x9F { return false }
            previous = byte
            if byte & 0xC0 != 0x80 { codePoints += 1 }
            if byte > 0x20 && byte < 0x7F { printableASCII = true }
        }
        guard (1...maxLength).contains(codePoints) else { return false }
        return printableASCII || text.unicodeScalars.contains { !$0.properties.isWhitespace }
    }

    /// The same rule for a JSON Schema validator. The classes are spelled out, because `\s` means
    /// different sets in ECMA-262 and in Python's `re`; and nothing is anchored with `$`, which
    /// Python lets match before a final line feed.
    public static var jsonSchema: JSONDocument {
        .object([
            "type": .string("string"), "minLength": .integer(1), "maxLength": .integer(maxLength),
            // A code point that is neither a control character nor Unicode White_Space.
            "pattern": .string(#"[^\u0000-\u0020\u007f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"#),
            "not": .object(["pattern": .string(#"[\u0000-\u001f\u007f-\u009f]"#)]),
            "description": .string("an id: \(rule)"),
        ])
    }
}
