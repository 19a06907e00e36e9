import Bus

/// The reply frames of the ingress protocol (docs/protocol.md), built without an encoder:
/// they are small, fixed in shape, and sent once per event.
public enum Reply {
    public static func ack(_ appended: Appended) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(80 + appended.id.utf8.count)
        frame += #"{"status":"ack","id":"#.utf8
        frame += jsonString(appended.id).utf8
        frame += #","offset":"#.utf8
        frame += String(appended.offset).utf8
        if appended.duplicate { frame += #","duplicate":true"#.utf8 }
        frame.append(UInt8(ascii: "}"))
        return frame
    }

    static let groupedAcksStart = Array(#"{"status":"acks","acks":["#.utf8)
    static let groupedAcksEnd = Array("]}".utf8)

    /// Appends one ack of a grouped reply to `frame`: `["<id>",<offset>]`, with `,true` before
    /// the `]` for a duplicate.
    static func appendGroupedAck(_ appended: Appended, to frame: inout [UInt8]) {
        frame.append(UInt8(ascii: "["))
        frame += jsonString(appended.id).utf8
        frame.append(UInt8(ascii: ","))
        frame += String(appended.offset).utf8
        if appended.duplicate { frame += ",true".utf8 }
        frame.append(UInt8(ascii: "]"))
    }

    static func nack(id: String?, _ error: EnvelopeError) -> [UInt8] {
        let idText = id.map(jsonString) ?? "null"
        let text = #"{"status":"nack","id":"# + idText + #","code":"# + jsonString(error.code.rawValue)
            + #","reason":"# + jsonString(error.reason) + "}"
        return Array(text.utf8)
    }

    static func jsonString(_ value: String) -> String {
        // Most values (event ids, codes) have nothing to escape.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) { return "\"" + value + "\"" }
        var out = "\""
        for scalar in value.unicodeScalars {
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
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
