import Foundation

/// libFuzzer target: the envelope scanner, which checks the JSON syntax of every message a node
/// receives before anything else reads it. Compiled with Sources/BusCore/EnvelopeScan.swift alone
/// (Scripts/fuzz). Besides crashes and hangs, it holds the scanner to Foundation's parser: a
/// document the scanner accepts must be one Foundation reads as a JSON object with the same
/// top-level keys. (The reverse does not hold: the scanner also refuses repeated keys, deep
/// nesting and too many members.)
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    // The decoder checks UTF-8 before the scan, which may assume it.
    guard String(validating: bytes, as: UTF8.self) != nil else { return 0 }
    guard let scan = try? EnvelopeScan(bytes) else { return 0 }
    guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes), options: [])) as? [String: Any] else {
        fatalError("the scanner accepted a document Foundation does not read as an object: \(String(decoding: bytes, as: UTF8.self).prefix(200))")
    }
    guard Set(scan.members.map(\.key)) == Set(object.keys) else {
        fatalError("the scanner and Foundation disagree on the top-level keys: \(scan.members.map(\.key)) vs \(object.keys.sorted())")
    }
    return 0
}
