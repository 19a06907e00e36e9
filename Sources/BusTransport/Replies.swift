import Bus

/// The reply frames of the ingress protocol (docs/protocol.md), built without an encoder:
/// they are small, fixed in shape, and sent once per event.
public enum Reply {
    public static func ack(_ appended: Appended) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(80 + appended.id.utf8.count)
        frame += #"{"status":"ack","id":"#.utf8
        frame += EnvelopeBytes.quoted(appended.id).utf8
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
        frame += EnvelopeBytes.quoted(appended.id).utf8
        frame.append(UInt8(ascii: ","))
        frame += String(appended.offset).utf8
        if appended.duplicate { frame += ",true".utf8 }
        frame.append(UInt8(ascii: "]"))
    }

    static func nack(id: String?, _ error: EnvelopeError) -> [UInt8] {
        let idText = id.map(EnvelopeBytes.quoted) ?? "null"
        let text = #"{"status":"nack","id":"# + idText + #","code":"# + EnvelopeBytes.quoted(error.code.rawValue)
            + #","reason":"# + EnvelopeBytes.quoted(error.reason) + "}"
        return Array(text.utf8)
    }
}
