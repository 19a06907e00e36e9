import Bus
@testable import BusTransport
import Testing

/// The module link's messages as docs/protocol.md lists them (`Scripts/fuzz link-message` holds
/// them to reading back as themselves; these are the cases a tester found accepted).
struct LinkMessageTests {
    private func frames(_ texts: String...) -> [[UInt8]] { texts.map { Array($0.utf8) } }

    @Test func eachVerbHasItsFramesAndNoMore() {
        #expect(ModuleMessage(frames: frames("ack", "2")) == .settled(.ack, offset: 2, reason: ""))
        #expect(ModuleMessage(frames: frames("ack", "2", "x")) == nil)
        #expect(ModuleMessage(frames: frames("ack", "8", "")) == nil)
        #expect(ModuleMessage(frames: frames("fail", "2", "the handler failed")) == .settled(.fail, offset: 2, reason: "the handler failed"))
        #expect(ModuleMessage(frames: frames("fail", "2")) == nil)
        #expect(ModuleMessage(frames: frames("busy", "2", "disk full", "more")) == nil)
        for offset in ["0", "-1", "+5", "5.0", " 5", "99999999999999999999", ""] {
            #expect(ModuleMessage(frames: frames("ack", offset)) == nil, "\(offset)")
            #expect(CoreMessage(frames: frames("event", offset, "{}")) == nil, "\(offset)")
        }
        #expect(CoreMessage(frames: frames("appended", "id", "3", "2")) == nil)
        #expect(ModuleMessage(frames: frames("hello", "intake", "3", "instance-1")) == .hello(module: "intake", version: "3", instance: "instance-1"))
        #expect(ModuleMessage(frames: frames("hello", "intake", "3", "instance-1", "x")) == nil)
        #expect(ModuleMessage(frames: frames("bye")) == .bye)
        #expect(ModuleMessage(frames: frames("bye", "intake")) == nil)
        #expect(CoreMessage(frames: frames("window")) == .window(token: nil))
        #expect(CoreMessage(frames: frames("window", "16")) == .window(token: 16))
        #expect(CoreMessage(frames: frames("window", "0")) == nil)
        #expect(CoreMessage(frames: frames("window", "16", "17")) == nil)
    }

    /// A peer's module name goes into the core's log and its reply: no line of its own, no flood.
    @Test func whatAPeerSentIsShownOnOneShortLine() {
        let shown = quoted("evil\n2026-12-06T03:00:00+0000 critical wzt: FAKE LINE", limit: 64)
        #expect(!shown.contains("\n") && shown.hasPrefix(#""evil\n2026"#))
        #expect(quoted(String(repeating: "x", count: 100_000), limit: 64).count == 67)
        #expect(quoted("intake") == #""intake""#)
    }
}
