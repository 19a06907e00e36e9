import Foundation
import PluginAPI

/// A scenario file (Tests/Scenarios/*.json): events in, as an external system would publish
/// them; the clock moved on; and the events and state expected out.
struct Scenario: Decodable {
    let name: String
    /// What the scenario shows, for the reader of the file.
    let about: String?
    /// The clock's first day (midnight in Brussels).
    let start: CalendarDate
    let steps: [Step]

    enum Step: Decodable {
        /// Publish an event: `{"publish": {"type": …, "subject": …, "data": {…}}}`.
        case publish(Publish)
        /// Move the clock to the start (in Brussels) of the day `n` days on: `{"advanceDays": 30}`.
        case advanceDays(Int)
        /// Move the clock to a moment: `{"advanceTo": "2023-03-31T22:00:00Z"}`.
        case advanceTo(String)
        /// Append events in one batch, as an import does: the modules see them as one backlog.
        case publishTogether([Publish])
        /// The next unmatched event of this type (and subject) has at least these data fields.
        case expect(Expectation)
        /// No unmatched event of this type has been published.
        case expectNone(String)
        /// A mandate application's state: `{"expectMandate": {"id": …, "status": …}}`.
        case expectMandate(MandateExpectation)
        /// A network's state: `{"expectNetwork": {"id": …, "accepted": […], "waitlist": […]}}`.
        case expectNetwork(NetworkExpectation)
        /// An intake case's state: `{"expectCase": {"id": …, "status": …, "ruleSet": …}}`.
        case expectCase(CaseExpectation)
        /// An onthaal file's state: `{"expectOnthaalFile": {"id": …, "leadPartner": …}}`.
        case expectOnthaalFile(OnthaalFileExpectation)
        /// Store a scan with the AMA module: `{"attach": {"text": "%PDF-…", "sha256": …, "mediaType": …}}`;
        /// the reference it gets must be the one given (the submissions in the file use it).
        case attach(Attachment)
        /// An AMA agreement: `{"expectAgreement": {"id": …, "activeVersion": 2, "confirmations": [[1, "werkpost", "who", "2024-02-03"], …]}}`.
        case expectAgreement(AgreementExpectation)

        enum CodingKeys: String, CodingKey { case publish, advanceDays, advanceTo, publishTogether, expect, expectNone, expectMandate, expectNetwork, expectCase, expectOnthaalFile, expectAgreement, attach }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard let key = container.allKeys.first, container.allKeys.count == 1 else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "a step has exactly one of: publish, publishTogether, advanceDays, advanceTo, expect, expectNone, expectMandate, expectNetwork, expectCase, expectOnthaalFile, expectAgreement, attach"))
            }
            switch key {
            case .publish: self = .publish(try container.decode(Publish.self, forKey: key))
            case .advanceDays: self = .advanceDays(try container.decode(Int.self, forKey: key))
            case .advanceTo: self = .advanceTo(try container.decode(String.self, forKey: key))
            case .publishTogether: self = .publishTogether(try container.decode([Publish].self, forKey: key))
            case .expect: self = .expect(try container.decode(Expectation.self, forKey: key))
            case .expectNone: self = .expectNone(try container.decode(String.self, forKey: key))
            case .expectMandate: self = .expectMandate(try container.decode(MandateExpectation.self, forKey: key))
            case .expectNetwork: self = .expectNetwork(try container.decode(NetworkExpectation.self, forKey: key))
            case .expectCase: self = .expectCase(try container.decode(CaseExpectation.self, forKey: key))
            case .expectOnthaalFile: self = .expectOnthaalFile(try container.decode(OnthaalFileExpectation.self, forKey: key))
            case .expectAgreement: self = .expectAgreement(try container.decode(AgreementExpectation.self, forKey: key))
            case .attach: self = .attach(try container.decode(Attachment.self, forKey: key))
            }
        }
    }

    struct Publish: Decodable {
        let type: String
        let subject: String?
        /// The envelope's `time` (RFC 3339), when the fact's moment matters.
        let time: String?
        let dataversion: Int?
        let data: JSONValue
    }

    struct Expectation: Decodable {
        let type: String
        let subject: String?
        let data: JSONValue?
    }

    struct Attachment: Decodable {
        let text: String
        let sha256: String
        let mediaType: String
    }

    struct AgreementExpectation: Decodable {
        let id: String
        let activeVersion: Int?
        /// Each: [version, party, confirmedBy, confirmedOn].
        let confirmations: [[JSONValue]]?
    }

    struct OnthaalFileExpectation: Decodable {
        let id: String
        let leadPartner: String?
        let closed: Bool?
        let exploredDomains: [String]?
        let exploredRights: Int?
    }

    struct CaseExpectation: Decodable {
        let id: String
        let status: String?
        let ruleSet: String?
        let limitOn: String?
        let limitReached: Bool?
        let steps: [String]?
    }

    struct NetworkExpectation: Decodable {
        let id: String
        let active: Bool?
        let accepted: [String]?
        let waitlist: [String]?
    }

    struct MandateExpectation: Decodable {
        let id: String
        let status: String?
        let overdueDecision: String?
        let history: [String]?
        let expiresOn: String?
    }
}
