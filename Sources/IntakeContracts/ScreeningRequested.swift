import BusCore
import PluginAPI

/// Step 1 of the VDAB flow: someone asked for a screening of a job seeker.
///
/// The only intake event that carries the INSZ: every later event refers to `caseID`.
public struct ScreeningRequested: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.screening-requested"
    public static let dataVersion = 1
    public static let personalFields: Set<String> = ["insz"]

    public enum Requester: String, Codable, Sendable, Hashable, CaseIterable {
        case jobSeeker = "job-seeker"
        case counsellor
    }

    public var caseID: String
    /// Sealed in the log with the case's key; `.erased` once the case was erased.
    public var insz: Personal<INSZ>
    /// The region whose rules apply, e.g. `flanders` or `brussels`.
    public var region: String
    public var requestedBy: Requester
    public var requestedOn: CalendarDate
    /// The VDAB office that handles the request.
    public var office: String
    /// The counsellor who filed the request, when `requestedBy` is `counsellor`.
    public var counsellorID: String?

    public init(caseID: String, insz: INSZ, region: String, requestedBy: Requester, requestedOn: CalendarDate, office: String, counsellorID: String? = nil) {
        self.caseID = caseID
        self.insz = .value(insz)
        self.region = region
        self.requestedBy = requestedBy
        self.requestedOn = requestedOn
        self.office = office
        self.counsellorID = counsellorID
    }

    enum CodingKeys: String, CodingKey {
        case caseID = "caseId", insz, region, requestedBy, requestedOn, office, counsellorID = "counsellorId"
    }
}

// The day each fact happened, which places it among deadlines.
extension ScreeningRequested: DatedFact { public var factDate: CalendarDate { requestedOn } }
