import Bus

/// Every contract this build accepts, described for integrators: its JSON Schema, and
/// docs/contracts.md written from those schemas (`wzt contracts markdown`), so the document
/// cannot say what the code does not.
public enum ContractCatalogue {
    public struct Entry: Sendable {
        public let type: String
        public let versions: [Int]
        public let personal: [String]
        public let schema: JSONDocument
    }

    public static func entries() throws(SchemaError) -> [Entry] {
        let registry: ContractRegistry
        do { registry = try ContractRegistry(ModuleCatalog.contracts) } catch { throw SchemaError("the contracts do not register: \(error)") }
        var entries: [Entry] = []
        for contract in ModuleCatalog.contracts.sorted(by: { $0.eventType.rawValue < $1.eventType.rawValue }) {
            entries.append(Entry(type: contract.eventType.rawValue, versions: registry.versions(of: contract.eventType),
                                 personal: contract.personalFields.sorted(), schema: try ContractSchema.schema(contract)))
        }
        return entries
    }

    /// `wzt contracts --json`: each type with its versions, personal fields and schema.
    public static func json(_ entries: [Entry]) -> JSONDocument {
        .array(entries.map { entry in
            .object(["type": .string(entry.type), "versions": .array(entry.versions.map(JSONDocument.integer)),
                     "personal": .array(entry.personal.map(JSONDocument.string)), "schema": entry.schema])
        })
    }

    /// docs/contracts.md.
    public static func markdown(_ entries: [Entry]) -> String {
        var lines = [
            "# Contracts",
            "",
            "<!-- Written by `wzt contracts markdown > docs/contracts.md` from the Swift contracts; a test fails when it differs. -->",
            "",
            "Every event type this build accepts, with the fields of its `data`. The JSON Schema (2020-12) of each",
            "is `wzt contracts schema TYPE` (all of them: `wzt contracts --json`). **required** fields must be there;",
            "the others may be left out or `null`. Fields a contract does not list are ignored. *Personal* fields are sent",
            "as the value itself; the log keeps them sealed with the key of the event's subject (docs/protocol.md).",
            "An ack means the event is stored, not that a module accepted it: a module that refuses an event publishes",
            "`<module>.refused` with the refused event's id, a code from the list in the contract below, and a reason.",
            "",
        ]
        var group = ""
        for entry in entries {
            let module = entry.type.split(separator: ".").dropFirst(2).first.map(String.init) ?? entry.type
            if module != group {
                group = module
                lines += ["## \(module)", ""]
            }
            let versions = entry.versions.count > 1 ? " (data versions \(entry.versions.map(String.init).joined(separator: ", ")); send the last)" : ""
            lines += ["### `\(entry.type)`\(versions)", "", "| field | type | |", "|---|---|---|"]
            lines += rows(of: entry.schema, prefix: "")
            if case .array(let examples)? = entry.schema["examples"], let example = examples.first {
                lines += ["", "Example `data`:", "", "```json", example.json, "```"]
            }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    private static func rows(of schema: JSONDocument, prefix: String) -> [String] {
        guard case .object(let properties)? = schema["properties"] else { return [] }
        var required: Set<String> = []
        if case .array(let names)? = schema["required"] {
            for case .string(let name) in names { required.insert(name) }
        }
        var rows: [String] = []
        for (name, property) in properties.sorted(by: { $0.key < $1.key }) {
            let value = nonNull(property)
            var notes: [String] = [required.contains(name) ? "**required**" : "optional"]
            if property["x-wzt-personal"] == .bool(true) { notes.append("*personal*") }
            rows.append("| `\(prefix)\(name)` | \(typeName(value)) | \(notes.joined(separator: ", ")) |")
            if value["properties"] != nil { rows += self.rows(of: value, prefix: "\(prefix)\(name).") }
            if case .object? = value["items"], let items = value["items"], items["properties"] != nil {
                rows += self.rows(of: items, prefix: "\(prefix)\(name)[].")
            }
        }
        return rows
    }

    /// An optional field's schema without its `null`.
    private static func nonNull(_ schema: JSONDocument) -> JSONDocument {
        guard case .array(let choices)? = schema["anyOf"] else { return schema }
        return choices.first { $0["type"] != .string("null") } ?? schema
    }

    private static func typeName(_ schema: JSONDocument) -> String {
        if case .array(let values)? = schema["enum"] {
            return "one of " + values.compactMap { if case .string(let value) = $0 { "`\(value)`" } else { nil } }.joined(separator: ", ")
        }
        if schema["format"] == .string("date") { return "date (YYYY-MM-DD)" }
        if case .string(let pattern)? = schema["pattern"] { return "text matching `\(pattern)`" }
        switch schema["type"] {
        case .string("array")?: return "list of " + (schema["items"].map(typeName) ?? "values")
        case .string("object")?: return "object"
        case .string("string")?: return "text"
        case .string(let type)?: return type
        default: return "value"
        }
    }
}
