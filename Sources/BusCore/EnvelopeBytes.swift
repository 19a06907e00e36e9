import Foundation

/// Changes to an envelope made on its bytes: only the members named change, every other byte
/// stays as the publisher wrote it. Foundation's `JSONSerialization` is not used for this: on
/// Linux it drops a U+FEFF that opens a string, and it rewrites numbers.
public enum EnvelopeBytes {
    /// `envelope` with each top-level member of `values` set to its JSON text: replaced where it
    /// is, else added at the front of the object (or left alone with `onlyWhereMissing`).
    public static func setting(_ values: [(key: String, json: [UInt8])], in envelope: [UInt8], onlyWhereMissing: Bool = false) throws(EnvelopeError) -> [UInt8] {
        let members: [EnvelopeScan.Member]
        do {
            members = try envelope.withUnsafeBufferPointer { (bytes) throws(EnvelopeScan.Malformed) in try EnvelopeScan(bytes).members }
        } catch {
            throw EnvelopeError(error.tooComplex ? .tooComplex : .malformedJSON, error.reason)
        }
        guard let opening = envelope.firstIndex(of: UInt8(ascii: "{")) else { throw EnvelopeError(.malformedJSON, "the event is not a JSON object") }
        var replacements: [(range: Range<Int>, bytes: [UInt8])] = []
        var added: [UInt8] = []
        for (key, json) in values {
            if let range = members.first(where: { $0.key == key })?.value {
                if !onlyWhereMissing { replacements.append((range, json)) }
            } else {
                if !added.isEmpty { added.append(UInt8(ascii: ",")) }
                // Attribute names are plain ASCII: nothing in them needs escaping.
                added += Array("\"\(key)\":".utf8) + json
            }
        }
        if !added.isEmpty {
            replacements.append((opening + 1..<opening + 1, members.isEmpty ? added : added + [UInt8(ascii: ",")]))
        }
        var output: [UInt8] = []
        output.reserveCapacity(envelope.count + added.count)
        var copied = 0
        for (range, bytes) in replacements.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            output += envelope[copied..<range.lowerBound]
            output += bytes
            copied = range.upperBound
        }
        output += envelope[copied...]
        return output
    }

    /// The top-level member `key` of `envelope`: a string's text, else the value's JSON text.
    public static func attribute(_ key: String, in envelope: [UInt8]) -> String? {
        envelope.withUnsafeBufferPointer { bytes in
            guard let range = (try? EnvelopeScan(bytes))?.members.first(where: { $0.key == key })?.value else { return nil }
            return (try? EnvelopeScan.string(bytes, at: range)) ?? String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        }
    }

    /// `text` as a JSON string.
    public static func string(_ text: String) -> [UInt8] { Array(quoted(text).utf8) }

    /// `text` as a JSON string, escaped where JSON requires it.
    public static func quoted(_ text: String) -> String {
        // Most values (event ids, codes) have nothing to escape.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) { return "\"" + text + "\"" }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += "\\u" + String(c.value, radix: 16).leftPadded(to: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The elements of the JSON array `json`, each as its own bytes.
    public static func elements(ofArray json: [UInt8]) throws(EnvelopeError) -> [[UInt8]] {
        do {
            return try json.withUnsafeBufferPointer { (bytes) throws(EnvelopeScan.Malformed) in
                try EnvelopeScan.elements(ofArray: bytes).map { Array(bytes[$0]) }
            }
        } catch {
            throw EnvelopeError(.malformedJSON, error.reason)
        }
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in these bytes (an empty one never does). Foundation's
    /// `firstRange(of:)` is generic over collections and was half of what opening an event's
    /// sealed fields cost.
    package func contains(bytes needle: [UInt8]) -> Bool {
        guard let first = needle.first else { return false }
        return withUnsafeBufferPointer { haystack in
            needle.withUnsafeBufferPointer { needle in
                guard let base = haystack.baseAddress, let needleBase = needle.baseAddress else { return false }
                var start = 0
                while haystack.count - start >= needle.count {
                    guard let found = memchr(base + start, Int32(first), haystack.count - start - needle.count + 1) else { return false }
                    let index = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                    if memcmp(base + index, needleBase, needle.count) == 0 { return true }
                    start = index + 1
                }
                return false
            }
        }
    }
}
