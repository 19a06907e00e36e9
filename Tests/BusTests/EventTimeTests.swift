@testable import BusCore
import Foundation
import PropertyBased
import Testing

/// Event times are read without Foundation's parser in the form wzt writes them; these tests
/// hold that to what Foundation reads.
struct EventTimeTests {
    static func foundation(_ text: String) -> Date? {
        (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) ?? (try? Date(text, strategy: .iso8601))
    }

    @Test func theWrittenFormIsReadAsFoundationReadsIt() async {
        // From 1900 to 2200, to the millisecond.
        let moment = Gen.int(in: -2_208_988_800_000...7_258_118_400_000).map { Date(timeIntervalSince1970: Double($0) / 1_000) }
        await propertyCheck(count: 2_000, input: moment) { moment in
            let text = EventTime.format(moment)
            let ours = try #require(EventTime.parseUTC(text), "\(text)")
            let theirs = try #require(Self.foundation(text))
            // Equal, but for a few times within weeks of 2001-01-01, Foundation's reference
            // date, where its reading is a few units in the last place off the nearest value.
            #expect(abs(ours.timeIntervalSince(theirs)) < 1e-9, "\(text): \(ours.timeIntervalSinceReferenceDate) against \(theirs.timeIntervalSinceReferenceDate)")
            if abs(ours.timeIntervalSinceReferenceDate) > 10_000_000 { #expect(ours == theirs, "\(text)") }
        }
    }

    @Test(arguments: ["2026-11-23T10:15:00Z", "2026-11-23T10:15:00.5Z", "2026-11-23t10:15:00.123z", "2026-11-23T11:15:00.123+01:00",
                      "2026-11-23 10:15:00.123Z", "2026-11-23T10:15:00.123456Z"])
    func otherFormsAreLeftToFoundation(_ text: String) {
        #expect(EventTime.parseUTC(text) == nil)
        #expect(EventTime.parse(text) == Self.foundation(text))
    }

    @Test(arguments: ["2026-02-29T10:15:00.000Z", "2026-11-23T24:15:00.000Z", "2026-11-23T10:60:00.000Z", "2026-11-23T10:15:60.000Z",
                      "2026-13-23T10:15:00.000Z", "2026-1a-23T10:15:00.000Z", "+026-11-23T10:15:00.000Z"])
    func impossibleTimesAreNotRead(_ text: String) {
        #expect(EventTime.parseUTC(text) == nil)
        #expect(EventTime.parse(text) == Self.foundation(text))
    }
}
