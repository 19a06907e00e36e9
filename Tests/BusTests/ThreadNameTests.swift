import Bus
import Foundation
import Testing

@Suite struct ThreadNameTests {
    /// The kernel's name of a thread that named itself, as `top -H` and perf show it.
    private func kernelName(after name: String) async -> String {
        await withCheckedContinuation { continuation in
            Thread {
                Thread.nameCurrent(name)
                let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
                continuation.resume(returning: comm.trimmingCharacters(in: .newlines))
            }.start()
        }
    }

    @Test func aThreadNamesItselfAndALongNameIsCutAtACharacter() async {
        #expect(await kernelName(after: "wzt.ingress") == "wzt.ingress")
        #expect(await kernelName(after: "wzt.link.mandating") == "wzt.link.mandat")
        // "é" is two bytes: a fifteenth byte would split one.
        #expect(await kernelName(after: "wzt.éééééééé") == "wzt.ééééé")
    }
}
