import Bus
import Core
import Foundation

/// libFuzzer targets over code that needs the node's libraries, built by Scripts/fuzz with
/// SwiftPM (`WZT_FUZZ=1`, its own build directory); libFuzzer supplies `main`.
/// `WZT_FUZZ_TARGET` chooses one:
///   envelope-decode  every event a publisher sends over ZeroMQ or in an HTTP `POST /events` body,
///                    decoded against the node's contracts
///   toml-config      `wzt.toml` as an operator writes it
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch Target.chosen {
    case .envelopeDecode: decodeEnvelope(bytes)
    case .tomlConfig: readConfig(bytes)
    }
    return 0
}

private enum Target: String {
    case envelopeDecode = "envelope-decode"
    case tomlConfig = "toml-config"

    static let chosen: Target = {
        let name = ProcessInfo.processInfo.environment["WZT_FUZZ_TARGET"] ?? ""
        guard let target = Target(rawValue: name) else {
            FileHandle.standardError.write(Data("set WZT_FUZZ_TARGET to envelope-decode or toml-config\n".utf8))
            exit(2)
        }
        return target
    }()
}

private let decoder: EnvelopeDecoder? = try? EnvelopeDecoder(registry: ContractRegistry(ModuleCatalog.contracts))

/// An event the publishers' decoder accepts is one the log's decoder reads back as the same event,
/// under its canonical id, from the bytes the log would store.
private func decodeEnvelope(_ bytes: [UInt8]) {
    guard let decoder else { fatalError("the node's contracts do not form a registry") }
    let envelope: Envelope
    do {
        envelope = try decoder.forPublishers.decode(bytes)
    } catch {
        guard !error.reason.isEmpty else { fatalError("a nack without a reason: \(error.code)") }
        return
    }
    guard EventID.canonical(envelope.id) == envelope.id else { fatalError("id \(envelope.id) kept in a non-canonical form") }
    let stored: Envelope
    do {
        stored = try decoder.decode(envelope.json)
    } catch {
        fatalError("an accepted event does not read back: \(error)")
    }
    guard stored.id == envelope.id, stored.type == envelope.type, stored.subject == envelope.subject,
          stored.time == envelope.time, stored.dataVersion == envelope.dataVersion else {
        fatalError("an accepted event reads back as another: \(envelope.id)")
    }
}

/// Any text gives a configuration or an error that names the file and says what to fix.
private func readConfig(_ bytes: [UInt8]) {
    guard let text = String(validating: bytes, as: UTF8.self) else { return }
    do {
        _ = try ConfigLoader.parse(text, origin: "fuzz.toml", knownModules: ModuleCatalog.moduleNames)
    } catch {
        guard error.origin == "fuzz.toml", !error.message.isEmpty else {
            fatalError("a config error that does not say where or what: \(error.description)")
        }
    }
}
