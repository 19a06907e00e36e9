/// libFuzzer target: the module link's messages, read by the core from any module that connects
/// and by a module from the core (compiled with Sources/BusTransport/LinkMessage.swift alone, by
/// Scripts/fuzz). The input is cut into frames at each 0xFF byte (a byte UTF-8 never holds).
/// Besides crashes and hangs: a message read from frames, written again and read again, is the
/// same message, and every offset (and fencing token) read is 1 or more.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let frames = UnsafeBufferPointer(start: data, count: size).split(separator: 0xFF, omittingEmptySubsequences: false).map(Array.init)
    if let message = ModuleMessage(frames: frames) {
        guard ModuleMessage(frames: message.frames) == message else { fatalError("\(message) does not read back") }
        if case .settled(_, let offset, _) = message, offset < 1 { fatalError("offset \(offset) read") }
    }
    if let message = CoreMessage(frames: frames) {
        guard CoreMessage(frames: message.frames) == message else { fatalError("\(message) does not read back") }
        switch message {
        case .event(let offset, _), .appended(_, let offset, _), .window(token: let offset?): if offset < 1 { fatalError("offset \(offset) read") }
        default: break
        }
    }
    return 0
}
