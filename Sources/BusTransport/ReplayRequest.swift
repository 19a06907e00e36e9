import Foundation

/// One replay request as a reader sends it (docs/protocol.md, "Replay"), every field checked.
/// Needs Foundation only, so that Scripts/fuzz can compile it on its own.
struct ReplayRequest: Equatable, Sendable {
    static let defaultLimit = 1000
    static let maxLimit = 5000
    static let maxTypes = 64
    static let maxPatternLength = 256
    static let usage = #"send one frame: {"from": OFFSET, "limit": N, "types": [PATTERN, ...]}"#

    /// The offset just before the first one asked for (`from` 0 and 1 both mean the start).
    let after: Int64
    /// At most this many events in the answer (`limit` above 5000 is read as 5000).
    let limit: Int
    /// Event patterns as sent; `EventPattern` checks their form.
    let types: [String]

    init(json: [UInt8]) throws(ReplayRequestError) {
        let fields: Fields
        do {
            fields = try JSONDecoder().decode(Fields.self, from: Data(json))
        } catch let error as ReplayRequestError {
            throw error
        } catch {
            throw ReplayRequestError(Self.usage)
        }
        guard fields.from >= 0 else { throw ReplayRequestError("`from` is an offset, 0 or more; got \(fields.from)") }
        let limit = fields.limit ?? Self.defaultLimit
        guard limit >= 1 else { throw ReplayRequestError("`limit` is how many events to send, 1 or more; got \(limit)") }
        let types = fields.types ?? []
        guard types.count <= Self.maxTypes else { throw ReplayRequestError("at most \(Self.maxTypes) `types` in one request; got \(types.count)") }
        if let long = types.first(where: { $0.utf8.count > Self.maxPatternLength }) {
            throw ReplayRequestError("a type pattern is at most \(Self.maxPatternLength) bytes; one has \(long.utf8.count)")
        }
        after = max(fields.from, 1) - 1
        self.limit = min(limit, Self.maxLimit)
        self.types = types
    }

    /// Where the reader's next request starts, given the head read before the page and the offsets
    /// in it: after the last event of a full page, else after everything this request looked at
    /// (events appended after `head` was read may be in the page; they are never handed out twice).
    func next(head: Int64, offsets: [Int64]) -> Int64 {
        if offsets.count == limit, let last = offsets.last { return last + 1 }
        return max(head, offsets.last ?? 0, after) + 1
    }

    /// The request's JSON members; any other member is refused, so a misspelt field is not ignored.
    private struct Fields: Decodable {
        let from: Int64
        let limit: Int?
        let types: [String]?

        private enum Key: String, CodingKey, CaseIterable { case from, limit, types }

        private struct AnyKey: CodingKey {
            let stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).filter { Key(rawValue: $0) == nil }
            if let name = unknown.sorted().first {
                throw ReplayRequestError("unknown member `\(name.prefix(64))`: a replay request has `from`, `limit` and `types`")
            }
            let container = try decoder.container(keyedBy: Key.self)
            guard container.contains(.from) else { throw ReplayRequestError("`from` is missing: \(ReplayRequest.usage)") }
            do {
                from = try container.decode(Int64.self, forKey: .from)
            } catch {
                throw ReplayRequestError("`from` is an offset, a whole number 0 or more")
            }
            do {
                limit = try container.decodeIfPresent(Int.self, forKey: .limit)
            } catch {
                throw ReplayRequestError("`limit` is a whole number from 1 to \(ReplayRequest.maxLimit)")
            }
            do {
                types = try container.decodeIfPresent([String].self, forKey: .types)
            } catch {
                throw ReplayRequestError("`types` is a list of event patterns (strings)")
            }
        }
    }
}

/// Why a replay request was not served; the reason goes back to the reader as is.
struct ReplayRequestError: Error, Equatable {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
