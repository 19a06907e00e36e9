import Foundation
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import PluginAPI

/// Wall-clock time for modules: what "now" is, and waiting until a moment.
///
/// Deadlines in wzt are legal dates months away (an 18-month trajectory limit, a yearly AMA
/// renewal), so this is about `Date`s, not durations. Tests use `ManualClock` to jump ahead.
public protocol BusClock: Sendable {
    func now() -> Date
    /// Returns at `date` or later, or throws `CancellationError` when the task is cancelled.
    func sleep(until date: Date) async throws
}

public struct SystemClock: BusClock {
    public init() {}
    public func now() -> Date { Date() }

    public func sleep(until date: Date) async throws {
        let seconds = date.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) }
    }
}

/// A clock that moves only when told to: `advance(by:)` and `set(to:)` wake every sleeper whose
/// moment has come.
public final class ManualClock: BusClock {
    private struct State {
        var now: Date
        var sleepers: [UUID: (until: Date, continuation: CheckedContinuation<Void, any Error>)] = [:]
    }

    private let state: NIOLockedValueBox<State>

    public init(now: Date) { state = NIOLockedValueBox(State(now: now)) }

    public func now() -> Date { state.withLockedValue { $0.now } }

    public func sleep(until date: Date) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready = state.withLockedValue { state -> Bool in
                    if state.now >= date || Task.isCancelled { return true }
                    state.sleepers[id] = (date, continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLockedValue { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }

    public func advance(by interval: TimeInterval) { set(to: now().addingTimeInterval(interval)) }

    public func set(to date: Date) {
        let woken = state.withLockedValue { state in
            state.now = max(state.now, date)
            let due = state.sleepers.filter { $0.value.until <= state.now }
            for id in due.keys { state.sleepers.removeValue(forKey: id) }
            return due.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }
}

extension CalendarDate {
    /// Legal days are Belgian calendar days: Europe/Brussels from tzdata, with summer time. Where
    /// tzdata is missing, Central European Time without summer time is the nearest honest answer.
    public static let legalTimeZone = TimeZone(identifier: "Europe/Brussels") ?? TimeZone(secondsFromGMT: 3600) ?? .gmt

    /// Midnight at the start of this day in Brussels: when a term that ran through the day
    /// before is overdue, and when a deadline "on" this day fires. Midnight is never skipped
    /// there (summer time starts and ends at night), so the offset of that moment is the day's.
    public var startOfDay: Date {
        let utcMidnight = Date(timeIntervalSince1970: TimeInterval(daysSinceEpoch) * 86_400)
        let guess = utcMidnight.addingTimeInterval(-TimeInterval(Self.legalTimeZone.secondsFromGMT(for: utcMidnight)))
        return utcMidnight.addingTimeInterval(-TimeInterval(Self.legalTimeZone.secondsFromGMT(for: guess)))
    }

    /// The day `date` falls on in Brussels.
    public init(_ date: Date) {
        let local = date.timeIntervalSince1970 + TimeInterval(Self.legalTimeZone.secondsFromGMT(for: date))
        self.init(daysSinceEpoch: Int((local / 86_400).rounded(.down)))
    }
}
