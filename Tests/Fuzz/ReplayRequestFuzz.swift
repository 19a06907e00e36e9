import Foundation

/// libFuzzer target: the replay request any reader may send (compiled with
/// Sources/BusTransport/ReplayRequest.swift alone, by Scripts/fuzz). Besides crashes and hangs: an
/// accepted request holds what the replay server relies on (a start at 0 or more, a limit from 1
/// to the maximum, at most the maximum of patterns, each bounded), and its next page never
/// overflows, whatever the head.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let request: ReplayRequest
    do {
        request = try ReplayRequest(json: bytes)
    } catch {
        guard !error.reason.isEmpty else { fatalError("a refusal without a reason") }
        return 0
    }
    guard request.after >= 0, request.after < Int64.max,
          (1...ReplayRequest.maxLimit).contains(request.limit),
          request.types.count <= ReplayRequest.maxTypes,
          request.types.allSatisfy({ $0.utf8.count <= ReplayRequest.maxPatternLength }) else {
        fatalError("accepted a request outside its bounds: \(request)")
    }
    for head in [0, request.after, Int64.max - 1] {
        guard request.next(head: head, offsets: []) > request.after else { fatalError("next page before the start: \(request)") }
    }
    return 0
}
