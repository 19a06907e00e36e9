/// One pass over an envelope's bytes that checks the JSON syntax of the whole document (RFC 8259)
/// and keeps where the members of the top-level object and of its `data` object are. The decoder
/// reads the attributes from these byte ranges and hands only `data` to its contract's decoder;
/// reading the attributes through `JSONDecoder` was half of what validating an envelope cost.
/// The bytes must be valid UTF-8 already (the decoder checks that first).
package struct EnvelopeScan {
    package struct Member {
        package let key: String
        package let value: Range<Int>
    }

    /// The members of the top-level object, in document order.
    package private(set) var members: [Member] = []
    /// The members of `data` when it is an object, in document order.
    package private(set) var dataMembers: [Member] = []

    /// Deeper documents are refused rather than risk the stack of the thread reading them.
    static let maxDepth = 512
    /// Members of the envelope or of its `data`: contracts have a few dozen; more is refused
    /// (`too-complex`) before any work that grows with their number.
    static let maxMembers = 1_000

    package struct Malformed: Error {
        package let reason: String
        /// Valid JSON, but more than one message may cost to read.
        package var tooComplex = false
    }

    package init(_ json: UnsafeBufferPointer<UInt8>) throws(Malformed) {
        var reader = Reader(bytes: json)
        reader.skipSpace()
        guard reader.peek == UInt8(ascii: "{") else { throw Malformed(reason: "the message must be a JSON object (a CloudEvents envelope)") }
        var data: [Member] = []
        members = try reader.object(depth: 1, keepingMembers: true) { key, reader throws(Malformed) in
            guard key == "data", reader.peek == UInt8(ascii: "{") else { return false }
            data = try reader.object(depth: 2, keepingMembers: true)
            return true
        }
        dataMembers = data
        reader.skipSpace()
        guard reader.index == json.count else { throw reader.failure("bytes after the end of the document") }
        if let key = Self.repeatedKey(members) { throw Malformed(reason: "attribute `\(key)` appears more than once") }
        if let key = Self.repeatedKey(dataMembers) { throw Malformed(reason: "`data.\(key)` appears more than once") }
    }

    /// The byte ranges of the elements of the array that `json` is, the whole document checked.
    static func elements(ofArray json: UnsafeBufferPointer<UInt8>) throws(Malformed) -> [Range<Int>] {
        var reader = Reader(bytes: json)
        reader.skipSpace()
        guard reader.peek == UInt8(ascii: "[") else { throw Malformed(reason: "the document is not a JSON array") }
        let elements = try reader.array(depth: 1, keepingElements: true)
        reader.skipSpace()
        guard reader.index == json.count else { throw reader.failure("bytes after the end of the document") }
        return elements
    }

    /// The text attribute `name` of an envelope (its `source`, its `subject`), read with the scan
    /// alone; nil when it has none, or is not an envelope. A fifth of what validating it costs.
    package static func text(_ name: String, of json: [UInt8]) -> String? {
        json.withUnsafeBufferPointer { json in
            guard let scan = try? EnvelopeScan(json), let range = scan.members.first(where: { $0.key == name })?.value else { return nil }
            return (try? string(json, at: range)) ?? nil
        }
    }

    /// The members of the object at `range` of a document scanned before (their ranges in `json`),
    /// the object standing `depth` levels deep in it.
    package static func members(_ json: UnsafeBufferPointer<UInt8>, ofObjectAt range: Range<Int>, depth: Int = 1) throws(Malformed) -> [Member] {
        var reader = Reader(bytes: UnsafeBufferPointer(rebasing: json[range]))
        guard reader.peek == UInt8(ascii: "{") else { throw Malformed(reason: "the value is not a JSON object") }
        let members = try reader.object(depth: depth, keepingMembers: true)
        guard reader.index == range.count else { throw reader.failure("bytes after the end of the object") }
        return members.map { Member(key: $0.key, value: $0.value.lowerBound + range.lowerBound..<$0.value.upperBound + range.lowerBound) }
    }

    /// The members of the object at `range` read as the scan of a whole envelope reads its
    /// `data`: as deep as it may nest there, its keys each once.
    package static func members(_ json: UnsafeBufferPointer<UInt8>, ofDataAt range: Range<Int>) throws(Malformed) -> [Member] {
        let members = try members(json, ofObjectAt: range, depth: 2)
        if let key = repeatedKey(members) { throw Malformed(reason: "`data.\(key)` appears more than once") }
        return members
    }

    /// A key that two members share. An envelope or its data has a dozen or two: comparing
    /// each pair costs less than hashing every key into a set, which took 4 % of a module's work.
    private static func repeatedKey(_ members: [Member]) -> String? {
        guard members.count > 24 else {
            for later in members.indices.dropFirst() where members[..<later].contains(where: { $0.key == members[later].key }) {
                return members[later].key
            }
            return nil
        }
        var seen = Set<String>(minimumCapacity: members.count)
        return members.first { !seen.insert($0.key).inserted }?.key
    }

    /// The text of the JSON string at `range`, escapes decoded; nil when the value there is not a string.
    package static func string(_ json: UnsafeBufferPointer<UInt8>, at range: Range<Int>) throws(Malformed) -> String? {
        guard json[range.lowerBound] == UInt8(ascii: "\"") else { return nil }
        let inner = UnsafeBufferPointer(rebasing: json[range.lowerBound + 1..<range.upperBound - 1])
        guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
        return try unescaped(inner)
    }

    private static func unescaped(_ inner: UnsafeBufferPointer<UInt8>) throws(Malformed) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(inner.count)
        var index = 0
        func hex(at start: Int) -> UInt32? {
            var value: UInt32 = 0
            for byte in inner[start..<start + 4] {
                guard let digit = hexValue(byte) else { return nil }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while index < inner.count {
            let byte = inner[index]
            guard byte == UInt8(ascii: "\\") else {
                text.append(byte)
                index += 1
                continue
            }
            let escape = inner[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "b"): text.append(0x08)
            case UInt8(ascii: "f"): text.append(0x0C)
            case UInt8(ascii: "n"): text.append(0x0A)
            case UInt8(ascii: "r"): text.append(0x0D)
            case UInt8(ascii: "t"): text.append(0x09)
            case UInt8(ascii: "u"):
                guard index + 4 <= inner.count, var scalar = hex(at: index) else { throw Malformed(reason: "a \\u escape needs four hex digits") }
                index += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    guard index + 6 <= inner.count, inner[index] == UInt8(ascii: "\\"), inner[index + 1] == UInt8(ascii: "u"),
                          let low = hex(at: index + 2), (0xDC00..<0xE000).contains(low) else {
                        throw Malformed(reason: "a \\u escape holds half a surrogate pair")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw Malformed(reason: "a \\u escape holds half a surrogate pair") }
                text.append(contentsOf: unicode.utf8)
            default: text.append(escape)  // " \ /
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The index of the first byte from `start` on that may end a run of plain string bytes: a
    /// quote, a backslash or (`stoppingAtControls`) a control character; eight bytes at a time
    /// while none is, since most of an envelope's bytes are inside strings (an office's address,
    /// a motivation) and stepping over them one by one was about a twentieth of what validating cost.
    /// May stop early at a byte that is none of these; never late.
    @inline(__always)
    static func plainRun(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, stoppingAtControls: Bool) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101, highBits: UInt64 = 0x8080_8080_8080_8080
        // A byte of `word` below n (n <= 0x80) sets its high bit here: the usual word-at-a-time test.
        func below(_ word: UInt64, _ n: UInt64) -> Bool { (word &- ones &* n) & ~word & highBits != 0 }
        var index = start
        guard let base = bytes.baseAddress else { return index }
        while index + 8 <= bytes.count {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
            if below(word ^ (ones &* 0x22), 1) || below(word ^ (ones &* 0x5C), 1) || stoppingAtControls && below(word, 0x20) { break }
            index += 8
        }
        return index
    }

    fileprivate static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The syntax check itself: recursive descent over the bytes, no values built except the keys
/// of the objects whose members are kept.
private struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    func failure(_ what: String) -> EnvelopeScan.Malformed {
        EnvelopeScan.Malformed(reason: "the message is not valid JSON: \(what) at byte \(index)")
    }

    mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    mutating func value(depth: Int) throws(EnvelopeScan.Malformed) {
        guard depth <= EnvelopeScan.maxDepth else { throw failure("nesting deeper than \(EnvelopeScan.maxDepth) levels") }
        guard let byte = peek else { throw failure("the document ends where a value was expected") }
        switch byte {
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "{"): _ = try object(depth: depth, keepingMembers: false)
        case UInt8(ascii: "["): _ = try array(depth: depth, keepingElements: false)
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
        default: throw failure("a value was expected")
        }
    }

    /// Reads the object at `index`; with `keepingMembers`, returns its members, and lets
    /// `readValue` read a member's value instead (it returns whether it did).
    mutating func object(depth: Int, keepingMembers: Bool,
                         readValue: (String, inout Reader) throws(EnvelopeScan.Malformed) -> Bool = { _, _ in false }) throws(EnvelopeScan.Malformed) -> [EnvelopeScan.Member] {
        guard depth <= EnvelopeScan.maxDepth else { throw failure("nesting deeper than \(EnvelopeScan.maxDepth) levels") }
        var members: [EnvelopeScan.Member] = []
        index += 1
        skipSpace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return members
        }
        while true {
            guard peek == UInt8(ascii: "\"") else { throw failure("a member name in quotes was expected") }
            let keyStart = index
            try string()
            let key = keepingMembers ? try EnvelopeScan.string(bytes, at: keyStart..<index) : nil
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw failure("a colon after the member name was expected") }
            index += 1
            skipSpace()
            let valueStart = index
            if let key {
                guard members.count < EnvelopeScan.maxMembers else {
                    throw EnvelopeScan.Malformed(reason: "an object of the envelope or its `data` has more than \(EnvelopeScan.maxMembers) members", tooComplex: true)
                }
                if try !readValue(key, &self) { try value(depth: depth + 1) }
                members.append(EnvelopeScan.Member(key: key, value: valueStart..<index))
            } else {
                try value(depth: depth + 1)
            }
            if try closes(with: UInt8(ascii: "}"), "a comma or a closing brace") { return members }
        }
    }

    mutating func array(depth: Int, keepingElements: Bool) throws(EnvelopeScan.Malformed) -> [Range<Int>] {
        var elements: [Range<Int>] = []
        index += 1
        skipSpace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return elements
        }
        while true {
            let start = index
            try value(depth: depth + 1)
            if keepingElements { elements.append(start..<index) }
            if try closes(with: UInt8(ascii: "]"), "a comma or a closing bracket") { return elements }
        }
    }

    /// After a member or an element: steps over the comma before the next one, or over `closing`
    /// (returns true).
    mutating func closes(with closing: UInt8, _ expected: String) throws(EnvelopeScan.Malformed) -> Bool {
        skipSpace()
        switch peek {
        case UInt8(ascii: ","):
            index += 1
            skipSpace()
            return false
        case closing:
            index += 1
            return true
        default: throw failure("\(expected) was expected")
        }
    }

    /// Steps over the string at `index`: escapes must be JSON's, control characters escaped.
    mutating func string() throws(EnvelopeScan.Malformed) {
        index += 1
        while index < bytes.count {
            index = EnvelopeScan.plainRun(bytes, from: index, stoppingAtControls: true)
            guard index < bytes.count else { break }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return
            }
            if byte == UInt8(ascii: "\\") {
                guard index + 1 < bytes.count else { break }
                switch bytes[index + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
                     UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 2
                case UInt8(ascii: "u"):
                    guard let unit = codeUnit(at: index) else { throw failure("a \\u escape needs four hex digits") }
                    index += 6
                    // Half a surrogate pair is no character: Foundation's parser, which modules
                    // read their events with, refuses it, so an event holding one could never be
                    // delivered.
                    if (0xD800..<0xDC00).contains(unit) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
                              let low = codeUnit(at: index), (0xDC00..<0xE000).contains(low) else {
                            throw failure("a \\u escape holds half a surrogate pair")
                        }
                        index += 6
                    } else if (0xDC00..<0xE000).contains(unit) {
                        throw failure("a \\u escape holds half a surrogate pair")
                    }
                default: throw failure("an unknown escape in a string")
                }
                continue
            }
            guard byte >= 0x20 else { throw failure("a control character in a string (escape it)") }
            index += 1
        }
        throw failure("a string is not closed")
    }

    /// The UTF-16 code unit of the `\\uXXXX` escape starting at `start`, or nil without four hex digits.
    private func codeUnit(at start: Int) -> UInt32? {
        guard start + 6 <= bytes.count else { return nil }
        var unit: UInt32 = 0
        for byte in bytes[start + 2..<start + 6] {
            guard let value = EnvelopeScan.hexValue(byte) else { return nil }
            unit = unit << 4 | UInt32(value)
        }
        return unit
    }

    mutating func number() throws(EnvelopeScan.Malformed) {
        func digits() throws(EnvelopeScan.Malformed) {
            guard let first = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw failure("a digit was expected") }
            while let next = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next) { index += 1 }
        }
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        if peek == UInt8(ascii: "0") {
            index += 1
        } else {
            try digits()
        }
        if peek == UInt8(ascii: ".") {
            index += 1
            try digits()
        }
        var exponent = false
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            exponent = true
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            try digits()
        }
        // Beyond a Double's range the number is valid JSON that Foundation, which opens sealed
        // events, refuses: every reader after the log would fail on it. Only an exponent or more
        // than 308 digits can get there.
        if exponent || index - start > 308,
           Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))?.isFinite != true {
            index = start
            throw failure("a number beyond ±1.8e308, which no reader can hold")
        }
    }

    mutating func literal(_ word: StaticString) throws(EnvelopeScan.Malformed) {
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard index + expected.count <= bytes.count, bytes[index..<index + expected.count].elementsEqual(expected) else {
            throw failure("true, false or null was expected")
        }
        index += expected.count
    }
}
