import Foundation
import TestSupport
import Testing
@testable import Bus

/// Every event says who caused it and for which purpose, unless a system publisher sent it.
struct ActorTests {
    let decoder = EnvelopeDecoder(registry: try! ContractRegistry([NoteAdded.self]))
    let caseworker = Actor(id: "an.peeters", role: "caseworker", agency: "vdab")

    func note(_ attributes: [String: Any]) throws -> [UInt8] {
        var object = try JSONSerialization.jsonObject(with: Data(Samples.noteJSON())) as! [String: Any]
        object.merge(attributes) { _, new in new }
        return Array(try JSONSerialization.data(withJSONObject: object))
    }

    @Test func actorAndPurposeTravelInTheEnvelope() throws {
        let json = try EnvelopeEncoder.envelope(NoteAdded(text: "called"), source: "/agency/vdab", actor: caseworker, purpose: .activationTrajectory)
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains(#""actor":"an.peeters","actoragency":"vdab","actorrole":"caseworker""#), "\(text)")
        let envelope = try decoder.decode(json)
        #expect(envelope.actor == caseworker)
        #expect(envelope.purpose == .activationTrajectory)
        #expect(try decoder.decode(Samples.noteJSON()).actor == nil)
    }

    @Test func anActorComesWithItsRoleAndAgency() throws {
        let error = try #require(#expect(throws: EnvelopeError.self) { try decoder.decode(try note(["actor": "an.peeters"])) })
        #expect(error.code == .missingAttribute)
        #expect(error.reason.contains("`actorrole` and `actoragency` together"))
    }

    @Test(arguments: [#"{"purpose": "Activation Trajectory"}"#, #"{"purpose": "-x"}"#, #"{"actor": "", "actorrole": "r", "actoragency": "a"}"#,
                      #"{"actor": "a\u0001b", "actorrole": "r", "actoragency": "a"}"#, #"{"actor": 7, "actorrole": "r", "actoragency": "a"}"#])
    func malformedAttributesAreRefused(_ attributes: String) throws {
        let merged = try JSONSerialization.jsonObject(with: Data(attributes.utf8)) as! [String: Any]
        let error = try #require(#expect(throws: EnvelopeError.self) { try decoder.decode(try note(merged)) })
        #expect(error.code == .badAttribute, "\(error)")
    }

    @Test func namedPublishersMustSayWhoAndWhyUnlessTheyAreSystemPublishers() throws {
        let rule = ActorRule(systemPublishers: ["vdab-batch"])
        let bare = try decoder.decode(Samples.noteJSON())
        let error = try #require(#expect(throws: EnvelopeError.self) { try rule.check(bare, publisher: "vdab-intake") })
        #expect(error.code == .missingActor)
        #expect(error.reason.contains("publisher vdab-intake has no actor, actorrole, actoragency and purpose"))
        #expect(error.reason.contains("privacy.system_publishers"))
        #expect(throws: EnvelopeError.self, "without a name, a publisher is anonymous, which this rule does not trust") {
            try rule.check(bare, publisher: nil)
        }
        try rule.check(bare, publisher: "vdab-batch")

        let withoutPurpose = try decoder.decode(try note(["actor": "an.peeters", "actorrole": "caseworker", "actoragency": "vdab"]))
        let noPurpose = try #require(#expect(throws: EnvelopeError.self) { try rule.check(withoutPurpose, publisher: "vdab-intake") })
        #expect(noPurpose.reason.contains("has no purpose"))
        let complete = try decoder.decode(try note(["actor": "an.peeters", "actorrole": "caseworker", "actoragency": "vdab", "purpose": "activation-trajectory"]))
        try rule.check(complete, publisher: "vdab-intake")
    }

    @Test func byDefaultOnlyAnonymousPublishersOnThisHostMayLeaveItOut() throws {
        let bare = try decoder.decode(Samples.noteJSON())
        try ActorRule().check(bare, publisher: nil)
        #expect(throws: EnvelopeError.self) { try ActorRule().check(bare, publisher: "vdab-intake") }
    }
}
