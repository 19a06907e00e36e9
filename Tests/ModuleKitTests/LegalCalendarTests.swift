import Foundation
import ModuleKit
import PluginAPI
import Testing

/// Legal days are Belgian calendar days: midnight in Brussels, summer time or not.
struct LegalCalendarTests {
    static func utc(_ text: String) -> Date { (try? Date(text, strategy: .iso8601)) ?? .distantPast }

    @Test(arguments: [
        ("2023-01-15", "2023-01-14T23:00:00Z"),  // winter time, UTC+1
        ("2023-03-26", "2023-03-25T23:00:00Z"),  // summer time starts at 02:00 that day
        ("2023-03-27", "2023-03-26T22:00:00Z"),  // summer time, UTC+2
        ("2022-10-30", "2022-10-29T22:00:00Z"),  // summer time ends at 03:00 that day
        ("2022-10-31", "2022-10-30T23:00:00Z"),
    ])
    func aDayStartsAtMidnightInBrussels(_ day: String, _ midnight: String) throws {
        let date = try #require(CalendarDate(day))
        #expect(date.startOfDay == Self.utc(midnight))
        #expect(CalendarDate(Self.utc(midnight)) == date, "midnight belongs to its own day")
        #expect(CalendarDate(Self.utc(midnight).addingTimeInterval(-1)) == date.adding(days: -1), "a second before is the day before")
    }

    @Test func dayNumbersAndDatesAgreeOverFourCenturies() {
        var date = CalendarDate(year: 1900, month: 1, day: 1)!
        for number in date.daysSinceEpoch..<(date.daysSinceEpoch + 146_097) {
            #expect(CalendarDate(daysSinceEpoch: number) == date)
            let next = CalendarDate(year: date.year, month: date.month, day: date.day + 1)
                ?? CalendarDate(year: date.year, month: date.month + 1, day: 1)
                ?? CalendarDate(year: date.year + 1, month: 1, day: 1)!
            #expect(date.days(until: next) == 1)
            date = next
        }
    }
}
