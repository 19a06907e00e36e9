import Foundation
import BusCore

/// What a subscriber needs of the events of one pattern, and why. The bus hands it only those
/// fields of `data`: the fields its contract defines (anything else a publisher added is
/// dropped), narrowed to `fields` when given.
public struct Need: Sendable, Hashable {
    public let pattern: EventPattern
    public let purpose: Purpose
    /// Top-level fields of `data` to keep; nil keeps every field of the contract.
    public let fields: Set<String>?

    public init(_ pattern: EventPattern, for purpose: Purpose, fields: Set<String>? = nil) {
        self.pattern = pattern
        self.purpose = purpose
        self.fields = fields
    }

    /// Fields of contract `T`'s current version: all of them, or only `fields`, which must include
    /// every field the contract requires, or the subscriber could not read what it is handed.
    public init<T: EventContract>(_ contract: T.Type, for purpose: Purpose, fields: Set<String>? = nil) {
        self.init(EventPattern(exactly: T.eventType), for: purpose, fields: fields)
    }
}

/// Rewrites events for one subscriber so that `data` holds only what its needs allow. The
/// envelope's attributes stay as they are; `data` is read through the contract (upcast to its
/// current version, which `dataversion` then says) and written back with the allowed fields only.
public struct Projection: Sendable {
    private let needs: [Need]
    private let decoder: EnvelopeDecoder
    /// Where sealed personal fields are opened; without, they stay sealed.
    private let keys: SubjectKeys?

    public init(needs: [Need], decoder: EnvelopeDecoder, keys: SubjectKeys? = nil) {
        self.needs = needs
        self.decoder = decoder
        self.keys = keys
    }

    /// The fields allowed for `type`: the union over the needs that match it; nil for every field
    /// of the contract. Empty when no need matches.
    public func allowedFields(for type: String) -> Set<String>? {
        var allowed = Set<String>()
        for need in needs where need.pattern.matches(type) {
            guard let fields = need.fields else { return nil }
            allowed.formUnion(fields)
        }
        return allowed
    }

    /// `event` with its personal fields opened and only the allowed fields of `data`. With
    /// `cachedKeysOnly`, a key that is not in memory throws `SubjectKeys.KeyNotCached`.
    public func apply(_ event: StoredEvent, cachedKeysOnly: Bool = false) throws -> StoredEvent {
        let envelope: Envelope
        let opened: [UInt8]
        if let appended = openedAsAppended(event) {
            envelope = appended
            opened = appended.json
        } else {
            do {
                opened = try keys.map { try Sealing.open(event.json, id: event.id, subject: event.subject, keys: $0, cachedOnly: cachedKeysOnly) } ?? event.json
            } catch let notCached as SubjectKeys.KeyNotCached {
                throw notCached
            } catch {
                throw error as? EnvelopeError ?? EnvelopeError(.storageFailed, "the personal fields of event \(event.id) could not be opened: \(error)")
            }
            envelope = try decoder.decode(opened)
        }
        let data = envelope.data
        let json: [UInt8]
        do {
            var fields = try JSONBytesEncoder.encode(data)
            if let allowed = allowedFields(for: event.type) { fields = try Self.object(fields, keeping: allowed) }
            // Decoding found `data`, so setting it replaces it and adds nothing.
            json = try EnvelopeBytes.setting([("data", fields), ("dataversion", Array(String(type(of: data).dataVersion).utf8))], in: opened)
        } catch let error as EnvelopeError {
            throw error
        } catch {
            throw EnvelopeError(.malformedJSON, "event \(event.id) could not be projected: \(error)")
        }
        // Most events come out as they went in (all their fields allowed, written as this encoder
        // writes them): then the decoding done here is the subscriber's too.
        return StoredEvent(offset: event.offset, id: event.id, type: event.type, subject: event.subject, json: json,
                           decoded: json == envelope.json ? envelope : nil)
    }
}

extension Projection {
    /// Reads the keys `events` need that are not in memory, all at once.
    func cacheKeys(for events: [StoredEvent]) throws {
        guard let keys else { return }
        try keys.cache(Set(events.flatMap { Sealing.keyIDs(in: $0.json) }))
    }

    /// The event as the log's writer appended it, which opening and decoding `event.json` would
    /// give again: its personal fields open when it has any, their key still opens them here
    /// (not erased since), and it held no sealed value of its own, which opening would change.
    /// Nil for an event read back from the log.
    private func openedAsAppended(_ event: StoredEvent) -> Envelope? {
        guard let appended = event.decoded, !appended.json.contains(bytes: Sealing.sealedMark) else { return nil }
        guard let sealing = appended.sealing else { return appended.json == event.json ? appended : nil }
        guard let keys, let key = sealing.key as? SubjectKeys.SealingKey, (try? keys.openingKey(id: key.id, cachedOnly: true)) != nil else { return nil }
        return appended
    }

    /// The members of the JSON object `json` whose keys are in `allowed`, as an object.
    /// Byte splices, as the envelope's own: Foundation's `JSONSerialization` took most of what a
    /// module's delivery cost.
    static func object(_ json: [UInt8], keeping allowed: Set<String>) throws -> [UInt8] {
        let wrapped = Array(#"{"data":"#.utf8) + json + [UInt8(ascii: "}")]
        let members = try wrapped.withUnsafeBufferPointer { try EnvelopeScan($0).dataMembers }
        var output: [UInt8] = [UInt8(ascii: "{")]
        for member in members where allowed.contains(member.key) {
            if output.count > 1 { output.append(UInt8(ascii: ",")) }
            // Contract keys are Swift identifiers: nothing in them needs escaping.
            output.append(UInt8(ascii: "\""))
            output += member.key.utf8
            output += #"":"#.utf8
            output += wrapped[member.value]
        }
        output.append(UInt8(ascii: "}"))
        return output
    }
}

/// A subscriber that is handed only what its needs allow; the bus puts it in front of every
/// module, in this process or over the link, so that no module code can ask for more.
public struct ProjectingSubscriber: Subscriber {
    public let inner: any Subscriber
    public let projection: Projection
    private let projectedAhead = PreparedEvents<StoredEvent>()

    public init(_ inner: any Subscriber, projection: Projection) {
        self.inner = inner
        self.projection = projection
    }

    public var subscriptionName: String { inner.subscriptionName }
    public var patterns: [EventPattern] { inner.patterns }
    public var preparesAhead: Bool { true }

    public func deliver(_ event: StoredEvent) async throws {
        if let failure = await deliver(batch: [event][...]).failure { throw failure }
    }

    /// The events projected (most of them while the batch before was applied), then handed over
    /// as one batch; an event that does not project ends the batch before it, with its error.
    public func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery {
        let ahead = projectedAhead.take(events)
        let (rest, failure) = ahead.count < events.count ? await projected(Array(events.dropFirst(ahead.count))) : ([], nil)
        let projected = ahead + rest
        let result = projected.isEmpty ? BatchDelivery(applied: 0) : await inner.deliver(batch: projected[...])
        guard result.failure == nil, let failure else { return result }
        return BatchDelivery(applied: result.applied, failure: failure)
    }

    /// Projects what it can for `deliver(batch:)` to take; an event that does not project is
    /// left to it, which meets the error again.
    public func prepare(_ events: [StoredEvent]) async {
        let (projected, _) = await projected(events, ahead: true)
        projectedAhead.keep(projected, for: events)
        await inner.prepare(projected)
    }

    /// The events projected in order up to the first that does not project, and its error. A
    /// large batch is projected on every core, first with the keys in memory; once a key must be
    /// read from the log (after a restart, or a backlog of new cases), the rest is projected off
    /// the cooperative pool, on a thread of its own: one thread per event cost more than the
    /// module's work. There the keys the rest names are read in one go, and only an event whose
    /// key is still not in memory then (erased, or from before key ids) reads on its own.
    private func projected(_ events: [StoredEvent], ahead: Bool = false) async -> ([StoredEvent], (any Error)?) {
        let projection = self.projection
        var (projected, failure) = Self.project(events, ahead: ahead) { try projection.apply($0, cachedKeysOnly: true) }
        guard failure is SubjectKeys.KeyNotCached else { return (projected, failure) }
        let rest = Array(events.dropFirst(projected.count))
        do {
            let (more, error) = try await onOwnThread {
                try projection.cacheKeys(for: rest)
                var (more, error) = Self.project(rest, ahead: ahead) { try projection.apply($0, cachedKeysOnly: true) }
                if error is SubjectKeys.KeyNotCached {
                    let (last, lastError) = Self.project(Array(rest.dropFirst(more.count)), ahead: ahead) { try projection.apply($0) }
                    more += last
                    error = lastError
                }
                return (more, error)
            }
            projected += more
            failure = error
        } catch {
            failure = error
        }
        return (projected, failure)
    }

    /// The events projected in order, on every core for a large batch, up to the first that does
    /// not project, and its error.
    private static func project(_ events: [StoredEvent], ahead: Bool, _ apply: @escaping @Sendable (StoredEvent) throws -> StoredEvent) -> ([StoredEvent], (any Error)?) {
        var projected: [StoredEvent] = []
        projected.reserveCapacity(events.count)
        for attempt in events.concurrentMap(minimumPerThread: envelopesPerThread, ahead: ahead, { event in Result { try apply(event) } }) {
            switch attempt {
            case .success(let event): projected.append(event)
            case .failure(let error): return (projected, error)
            }
        }
        return (projected, nil)
    }
}
