// Publishes one screening request and prints intake's answer: the case's new status, or its
// refusal. usage: publish-screening CASE-ID [INGRESS LIVE REPLAY]
import BusCore
import Foundation
import IntakeContracts
import PluginAPI
import WZTClient
import ZeroMQ

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 1 || arguments.count == 4, let caseID = arguments.first, !caseID.hasPrefix("-") else {
    FileHandle.standardError.write(Data("usage: publish-screening CASE-ID [INGRESS LIVE REPLAY]\n".utf8))
    exit(2)
}
let (ingress, live, replay) = arguments.count == 4 ? (arguments[1], arguments[2], arguments[3])
    : ("tcp://127.0.0.1:5555", "tcp://127.0.0.1:5556", "tcp://127.0.0.1:5557")

do {
    let context = Context()
    // Follow intake's events from now on, before publishing, so that its answer cannot be missed.
    let feed = try EventFeed(context: context, live: live, replay: replay, types: [try EventPattern("be.wzt.intake.*")])
    let publisher = try IngressClient(context: context, endpoint: ingress, groupedAcks: true)
    guard let requestedOn = CalendarDate(year: 2026, month: 11, day: 23) else { exit(2) }
    let request = ScreeningRequested(caseID: caseID, insz: try INSZ("85073003328"), region: "flanders", requestedBy: .counsellor,
                                     requestedOn: requestedOn, office: "Gent")
    switch try publisher.publish(request, source: "/example/publisher", subject: caseID) {
    case .ack(let offset, _): print("stored at offset \(offset)")
    case .nack(let code, let reason):
        print("refused at the door: \(code): \(reason)")
        exit(1)
    }
    // What the node says back, read with the same contracts.
    let decoder = EnvelopeDecoder(registry: try ContractRegistry(IntakeContracts.all))
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
        guard let event = try feed.next(), let envelope = try? decoder.decode(event.json), envelope.subject == caseID else { continue }
        if let status = try? envelope.data(as: CaseStatusChanged.self) {
            print("case \(status.caseId) is \(status.status.rawValue) since \(status.on)")
            exit(0)
        }
        if let refusal = try? envelope.data(as: IntakeRefused.self) {
            print("intake refused it: \(refusal.code.rawValue): \(refusal.reason)")
            exit(1)
        }
    }
    // Intake answers nothing to a request it has applied already (the same case, the same data).
    print("no answer from intake within 30 s: the case may exist already, or the live feed at \(live) is not this node's")
    exit(1)
} catch {
    FileHandle.standardError.write(Data("publish-screening: \(error)\n".utf8))
    exit(3)
}
