import Bus
import Foundation
import Storage
import ModuleKit

/// Everything stored about a subject, for the person's right of access: its events in the log with
/// their personal fields opened (or marked erased), its erasures, and what each module keeps
/// (the documents of its views under that id, and its `records`). A JSON-ready dictionary.
public enum PrivacyExport {
    public static func export(subject: String, log: EventLog, modules: [(module: any Module, store: ModuleStore)]) async throws -> [String: Any] {
        var events: [Any] = []
        for (event, at) in try await log.recorded(subject: subject, limit: 100_000) {
            let opened = try Sealing.open(event.json, id: event.id, subject: event.subject, keys: log.keys)
            events.append(["offset": event.offset, "recordedAt": at, "envelope": try JSONSerialization.jsonObject(with: Data(opened))])
        }
        var held: [String: Any] = [:]
        for (module, store) in modules {
            let views = module.views
            // JSON inside the read, so that only bytes leave it.
            let found = try await store.database.read { db -> Data? in
                var entry: [String: Any] = [:]
                var documents: [String: Any] = [:]
                for view in views {
                    if let document = try view.read(subject, db) {
                        documents[view.name] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(document.body))
                    }
                }
                let records = try module.records(about: subject, db).mapValues { rows in rows.map(json) }
                if !documents.isEmpty { entry["documents"] = documents }
                if !records.isEmpty { entry["records"] = records }
                return entry.isEmpty ? nil : try JSONSerialization.data(withJSONObject: entry)
            }
            if let found { held[module.name] = try JSONSerialization.jsonObject(with: found) }
        }
        let erased = try log.keys.erased().filter { $0.subject == subject }.map { ["at": $0.at, "reason": $0.reason] }
        return ["subject": subject, "events": events, "modules": held, "erased": erased]
    }

    /// A row as JSON values: text, numbers, null; blobs as base64.
    private static func json(_ row: SQLRow) -> [String: Any] {
        Dictionary(uniqueKeysWithValues: zip(row.columnNames, row.values).map { column, value -> (String, Any) in
            switch value {
            case .null: (column, NSNull())
            case .integer(let value): (column, value)
            case .real(let value): (column, value)
            case .text(let value): (column, value)
            case .blob(let value): (column, Data(value).base64EncodedString())
            }
        })
    }
}
