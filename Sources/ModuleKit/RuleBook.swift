import PluginAPI

/// Finds the rule set in force for a case: by region, offer, and the date the case started.
///
/// A case keeps the rules it started under: a trajectory started on 2023-06-30 in Flanders runs
/// on flanders-2014 to its end. Built once at start-up; overlapping rule sets or a gap between
/// them for one region and offer stop the start, named.
public struct RuleBook: Sendable {
    public let ruleSets: [any RegionalRules]
    /// Per region and offer, the rule sets ordered by start date.
    private let timelines: [Key: [(interval: EffectiveInterval, rules: any RegionalRules)]]

    private struct Key: Hashable {
        let region: String
        let offer: Offer
    }

    public init(_ ruleSets: [any RegionalRules]) throws(RuleBookError) {
        var ids: [String: Int] = [:]
        for rules in ruleSets { ids[rules.id, default: 0] += 1 }
        if let duplicate = ids.first(where: { $0.value > 1 })?.key {
            throw RuleBookError("rule set \(duplicate) is loaded twice; remove one of the plugins that provide it")
        }
        var timelines: [Key: [(interval: EffectiveInterval, rules: any RegionalRules)]] = [:]
        for rules in ruleSets {
            for (offer, interval) in rules.offers {
                if let end = interval.end, end <= interval.start {
                    throw RuleBookError("rule set \(rules.id): the \(offer) interval \(interval) ends before it starts")
                }
                timelines[Key(region: rules.region, offer: offer), default: []].append((interval, rules))
            }
        }
        for (key, entries) in timelines {
            let sorted = entries.sorted { $0.interval.start < $1.interval.start }
            for (earlier, later) in zip(sorted, sorted.dropFirst()) {
                guard let end = earlier.interval.end, end <= later.interval.start else {
                    throw RuleBookError("rule sets \(earlier.rules.id) and \(later.rules.id) overlap for \(key.offer) in \(key.region): \(earlier.interval) and \(later.interval); end one where the other starts")
                }
                guard end == later.interval.start else {
                    throw RuleBookError("no rule set covers \(key.offer) in \(key.region) for cases started from \(end) to \(later.interval.start) (between \(earlier.rules.id) and \(later.rules.id))")
                }
            }
            timelines[key] = sorted
        }
        self.ruleSets = ruleSets
        self.timelines = timelines
    }

    /// The rule set for a case of `offer` in `region` that started on `date`.
    public func rules(region: String, offer: Offer, caseStartedOn date: CalendarDate) throws(RuleBookError) -> any RegionalRules {
        guard let timeline = timelines[Key(region: region, offer: offer)] else {
            let regions = Set(ruleSets.map(\.region)).sorted().joined(separator: ", ")
            if !ruleSets.contains(where: { $0.region == region }) {
                throw RuleBookError("no rule set for region \(region); known regions: \(regions)")
            }
            throw RuleBookError("\(offer) is not offered in \(region)")
        }
        guard let match = timeline.first(where: { $0.interval.contains(date) }) else {
            throw RuleBookError("no rule set for \(offer) in \(region) for a case started on \(date); the first starts on \(timeline[0].interval.start)")
        }
        return match.rules
    }

    public var regions: [String] { Set(ruleSets.map(\.region)).sorted() }
}

public struct RuleBookError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
