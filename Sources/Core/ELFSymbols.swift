import Foundation

/// The dynamic symbols an ELF shared object defines, read from the file without loading it.
/// Loading runs the library's initialisers: a foreign library (a second copy of a Swift library
/// the node already has, such as `libPluginAPI.so`) can crash the process before any symbol is
/// looked up. Only 64-bit little-endian objects are read, which is what this platform loads.
enum ELFSymbols {
    struct Unreadable: Error {
        let reason: String
    }

    /// Which of `names` the object at `path` defines in its dynamic symbol table.
    static func defined(_ names: Set<String>, in path: String) throws(Unreadable) -> Set<String> {
        guard let file = try? Data(contentsOf: URL(filePath: path), options: .alwaysMapped) else {
            throw Unreadable(reason: "cannot open shared object file (missing or unreadable)")
        }
        let bytes = [UInt8](file)
        guard bytes.count >= 64, bytes[0..<4] == [0x7F, 0x45, 0x4C, 0x46] else { throw Unreadable(reason: "invalid ELF header") }
        guard bytes[4] == 2, bytes[5] == 1 else { throw Unreadable(reason: "not a 64-bit little-endian ELF object") }
        let reader = Reader(bytes: bytes)
        let sectionsAt = try reader.int(0x28, 8), sectionSize = try reader.int(0x3A, 2), sectionCount = try reader.int(0x3C, 2)
        func section(_ index: Int) throws(Unreadable) -> (type: Int, offset: Int, size: Int, link: Int, entrySize: Int) {
            let base = sectionsAt + index * sectionSize
            return (try reader.int(base + 4, 4), try reader.int(base + 0x18, 8), try reader.int(base + 0x20, 8), try reader.int(base + 0x28, 4),
                    try reader.int(base + 0x38, 8))
        }
        let dynamicSymbolTable = 11
        for index in 0..<sectionCount {
            let symbols = try section(index)
            guard symbols.type == dynamicSymbolTable, symbols.entrySize >= 24, symbols.link < sectionCount else { continue }
            let strings = try section(symbols.link)
            var found: Set<String> = []
            for entry in 0..<(symbols.size / symbols.entrySize) {
                let base = symbols.offset + entry * symbols.entrySize
                // An undefined symbol (section index 0) is one the object needs, not one it offers.
                guard try reader.int(base + 6, 2) != 0 else { continue }
                let name = try reader.string(strings.offset + reader.int(base, 4), end: strings.offset + strings.size)
                if names.contains(name) { found.insert(name) }
            }
            return found
        }
        return []
    }

    /// Bounds-checked reads: the file is input.
    private struct Reader {
        let bytes: [UInt8]

        func int(_ offset: Int, _ width: Int) throws(Unreadable) -> Int {
            guard offset >= 0, width <= 8, offset <= bytes.count - width else { throw Unreadable(reason: "truncated ELF object") }
            var value: UInt64 = 0
            for byte in bytes[offset..<offset + width].reversed() { value = value << 8 | UInt64(byte) }
            guard value <= UInt64(Int.max / 2) else { throw Unreadable(reason: "ELF offsets out of range") }
            return Int(value)
        }

        func string(_ offset: Int, end: Int) throws(Unreadable) -> String {
            let end = min(end, bytes.count)
            guard offset >= 0, offset < end, let terminator = bytes[offset..<end].firstIndex(of: 0) else { throw Unreadable(reason: "truncated ELF string table") }
            return String(decoding: bytes[offset..<terminator], as: UTF8.self)
        }
    }
}
