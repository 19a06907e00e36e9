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
            "A field of type *id* (every text field whose name ends in `Id`) is \(Identifier.rule), like an event's `subject`. No text may contain U+0000.",
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
        if schema == Identifier.jsonSchema { return "id" }
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

extension ContractCatalogue {
    /// Where a node answers, as a client reaches it.
    public struct Endpoints: Sendable {
        public var ingress, live, replay: String
        public var http: String?
        public var curve: Bool

        public init(_ configuration: NodeConfiguration) {
            let transport = configuration.transport
            ingress = transport.ingressEndpoint
            live = transport.egressEndpoint
            replay = transport.replayEndpoint
            http = configuration.http?.description
            curve = transport.security != nil
        }
    }

    /// One AsyncAPI 3.0 document for a node: its ZeroMQ ingress, live feed and replay (and the
    /// HTTP ingress), every event type as a message whose `data` is the contract's schema, and
    /// CURVE as the security scheme when the node has it. `wzt contracts asyncapi`, `GET /asyncapi.json`.
    public static func asyncAPI(_ entries: [Entry], endpoints: Endpoints) -> JSONDocument {
        func ref(_ path: String) -> JSONDocument { .object(["$ref": .string(path)]) }
        func text(_ value: String) -> JSONDocument { .string(value) }
        func object(_ properties: [String: JSONDocument], required: [String]) -> JSONDocument {
            .object(["type": text("object"), "properties": .object(properties), "required": .array(required.map(text))])
        }
        let string = JSONDocument.object(["type": text("string")])
        let security: [JSONDocument] = endpoints.curve ? [ref("#/components/securitySchemes/curve")] : []
        func server(_ endpoint: String, _ protocolName: String, _ description: String) -> JSONDocument {
            let host = endpoint.components(separatedBy: "://").last ?? endpoint
            return .object(["host": text(host), "protocol": text(protocolName), "description": text(description), "security": .array(security)])
        }
        var servers: [String: JSONDocument] = [
            "ingress": server(endpoints.ingress, "zmq", "ZeroMQ ROUTER: send one event per message from a DEALER or REQ; one reply per event, once it is durable (docs/protocol.md)"),
            "live": server(endpoints.live, "zmq", "ZeroMQ PUB: every appended event as three frames: type (the topic), offset, envelope; best effort"),
            "replay": server(endpoints.replay, "zmq", "ZeroMQ ROUTER: the log by offset, without gaps"),
        ]
        if let http = endpoints.http {
            servers["http"] = .object(["host": text(http), "protocol": text("http"), "description": text("POST /events with a publisher's bearer token: the ingress's semantics over HTTP")])
        }

        var messages: [String: JSONDocument] = [:]
        var schemas: [String: JSONDocument] = [:]
        for entry in entries {
            var data = entry.schema
            if case .object(var members) = data {
                members["$schema"] = nil
                members["$id"] = nil
                data = .object(members)
            }
            schemas[entry.type] = data
            let version = entry.versions.last ?? 1
            messages[entry.type] = .object([
                "name": text(entry.type), "title": text(entry.type),
                "summary": text("data version \(version)" + (entry.personal.isEmpty ? "" : "; personal fields: \(entry.personal.joined(separator: ", "))")),
                "contentType": text("application/cloudevents+json"),
                "payload": .object(["allOf": .array([
                    ref("#/components/schemas/envelope"),
                    object(["type": .object(["const": text(entry.type)]), "data": ref("#/components/schemas/\(entry.type)")], required: ["type", "data"]),
                ])]),
            ])
        }
        schemas["envelope"] = object([
            "specversion": .object(["const": text("1.0")]), "id": .object(["type": text("string"), "description": text("a UUID (v7 recommended) or a ULID; the idempotency key")]),
            "source": string, "type": string, "subject": string, "time": .object(["type": text("string"), "format": text("date-time")]),
            "dataversion": .object(["type": .array([text("integer"), text("string")])]), "datacontenttype": .object(["const": text("application/json")]),
            "correlationid": string, "causationid": string, "actor": string, "actorrole": string, "actoragency": string,
            "purpose": .object(["type": text("string"), "pattern": text("^[a-z0-9]+(-[a-z0-9]+)*$")]), "data": .object(["type": text("object")]),
        ], required: ["specversion", "id", "source", "type", "dataversion", "data"])
        schemas["reply"] = object([
            "status": .object(["enum": .array([text("ack"), text("nack")])]), "id": .object(["type": .array([text("string"), text("null")])]),
            "offset": .object(["type": text("integer")]), "duplicate": .object(["type": text("boolean")]), "code": string, "reason": string,
        ], required: ["status", "id"])
        schemas["replay-request"] = object([
            "from": .object(["type": text("integer"), "minimum": .integer(0)]), "limit": .object(["type": text("integer"), "minimum": .integer(1)]),
            "types": .object(["type": text("array"), "items": string, "maxItems": .integer(64)]),
        ], required: ["from"])
        messages["reply"] = .object(["name": text("reply"), "title": text("ack or nack"), "contentType": text("application/json"), "payload": ref("#/components/schemas/reply")])
        messages["replay-request"] = .object(["name": text("replay-request"), "contentType": text("application/json"), "payload": ref("#/components/schemas/replay-request")])
        messages["replay-page"] = .object(["name": text("replay-page"), "contentType": text("application/json"),
                                           "summary": text("a header {\"status\":\"ok\",\"head\":H,\"next\":N,\"count\":K}, then K pairs of frames: offset, envelope"),
                                           "payload": object(["status": string, "head": .object(["type": text("integer")]), "next": .object(["type": text("integer")]),
                                                              "count": .object(["type": text("integer")])], required: ["status"])])
        let eventMessages = JSONDocument.object(Dictionary(uniqueKeysWithValues: entries.map { ($0.type, ref("#/components/messages/\($0.type)")) }))
        let channels: [String: JSONDocument] = [
            "ingress": .object(["address": .null, "servers": .array([ref("#/servers/ingress")] + (endpoints.http == nil ? [] : [ref("#/servers/http")])),
                                "messages": eventMessages]),
            "ingress-replies": .object(["address": .null, "servers": .array([ref("#/servers/ingress")]), "messages": .object(["reply": ref("#/components/messages/reply")])]),
            "live": .object(["address": text("{type}"), "servers": .array([ref("#/servers/live")]), "messages": eventMessages,
                             "parameters": .object(["type": .object(["description": text("the event type; subscribe to a prefix of it")])])]),
            "replay": .object(["address": .null, "servers": .array([ref("#/servers/replay")]),
                               "messages": .object(["replay-request": ref("#/components/messages/replay-request"), "replay-page": ref("#/components/messages/replay-page")])]),
        ]
        func messagesOf(_ channel: String, _ names: [String]) -> JSONDocument { .array(names.map { ref("#/channels/\(channel)/messages/\($0)") }) }
        let operations: [String: JSONDocument] = [
            "publish": .object(["action": text("send"), "channel": ref("#/channels/ingress"),
                                "summary": text("Publish an event; the ack comes once it is durable. An ack means stored, not accepted: a module's refusal comes later as an event."),
                                "reply": .object(["channel": ref("#/channels/ingress-replies"), "messages": messagesOf("ingress-replies", ["reply"])])]),
            "follow": .object(["action": text("receive"), "channel": ref("#/channels/live"), "summary": text("Every appended event; fill gaps from replay.")]),
            "replay": .object(["action": text("send"), "channel": ref("#/channels/replay"), "messages": messagesOf("replay", ["replay-request"]),
                               "reply": .object(["channel": ref("#/channels/replay"), "messages": messagesOf("replay", ["replay-page"])])]),
        ]
        var components: [String: JSONDocument] = ["messages": .object(messages), "schemas": .object(schemas)]
        if endpoints.curve {
            components["securitySchemes"] = .object(["curve": .object([
                "type": text("asymmetricEncryption"),
                "description": text("CurveZMQ: the client knows the node's public key and is known to it by its own (a [[security.keys]] entry); `wzt keys generate` makes a key pair"),
            ])])
        }
        return .object([
            "asyncapi": text("3.0.0"),
            "info": .object(["title": text("wzt node"), "version": text(BuildInfo.version),
                             "description": text("Durable events for werk- en zorgtrajecten. The wire protocol is docs/protocol.md; each event's data is docs/contracts.md.")]),
            "defaultContentType": text("application/cloudevents+json"),
            "servers": .object(servers), "channels": .object(channels), "operations": .object(operations), "components": .object(components),
        ])
    }
}
