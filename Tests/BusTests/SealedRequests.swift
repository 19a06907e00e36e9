import IntakeContracts
import PluginAPI
@testable import Bus

/// Screening requests, whose INSZ the log seals, for the tests of sealing keys.
protocol SealedRequests {}

extension SealedRequests {
    var decoder: EnvelopeDecoder { SealedRequestValues.decoder }
    var insz: INSZ { SealedRequestValues.insz }

    func request(_ caseID: String) throws -> Envelope {
        try decoder.decode(EnvelopeEncoder.envelope(
            ScreeningRequested(caseID: caseID, insz: insz, region: "flanders", requestedBy: .counsellor, requestedOn: CalendarDate("2026-03-02")!, office: "Gent"),
            source: "/agency/vdab", subject: caseID))
    }
}

private enum SealedRequestValues {
    static let decoder = EnvelopeDecoder(registry: try! ContractRegistry([ScreeningRequested.self]))
    static let insz = try! INSZ("85073003328")
}
