import Bus
import BusTransport
import Foundation
import Logging
import Notifications
import OperatorHTTP
import PostgresStorage
import TOMLKit
import ZeroMQ

/// Reads `wzt.toml`. Every key is checked: an unknown key, a wrong type or an impossible value
/// stops the start with a message that names the key and the fix.
public enum ConfigLoader {
    /// The file used when no `--config` is given, if it exists.
    public static let defaultPath = "Config/wzt.toml"

    /// Loads `path`, or `Config/wzt.toml` when it exists, or the built-in defaults.
    public static func load(path: String?, knownModules: [String]) throws(ConfigError) -> NodeConfiguration {
        let chosen = path ?? (FileManager.default.fileExists(atPath: defaultPath) ? defaultPath : nil)
        guard let chosen else { return NodeConfiguration() }
        guard let text = try? String(contentsOfFile: chosen, encoding: .utf8) else {
            throw ConfigError(origin: chosen, key: "", "cannot read the file; check the path given to --config")
        }
        return try parse(text, origin: chosen, knownModules: knownModules)
    }

    public static func parse(_ text: String, origin: String, knownModules: [String]) throws(ConfigError) -> NodeConfiguration {
        if let problem = TOMLPreflight.problem(in: text) {
            throw ConfigError(origin: origin, key: "", "not valid TOML at line \(problem.line), column \(problem.column): \(problem.message)")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(origin: origin, key: "", "not valid TOML at line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        } catch {
            throw ConfigError(origin: origin, key: "", "not valid TOML")
        }
        let reader = TableReader(table: table, origin: origin)
        var config = NodeConfiguration()
        config.origin = origin

        if let data = try reader.section("data") {
            config.dataDirectory = try data.string("dir", nonEmpty: true) ?? config.dataDirectory
            try data.finish()
        }
        if let bus = try reader.section("bus") {
            if let limit = try bus.int("max_event_bytes", in: 1024...(64 << 20)) { config.maxEventBytes = limit }
            try bus.finish()
        }
        if let ingress = try reader.section("ingress") {
            config.transport.ingressEndpoint = try ingress.endpoint("endpoint") ?? config.transport.ingressEndpoint
            config.transport.ingressBatchSize = try ingress.int("batch_size", in: 1...65536) ?? config.transport.ingressBatchSize
            try ingress.finish()
        }
        if let egress = try reader.section("egress") {
            config.transport.egressEndpoint = try egress.endpoint("endpoint") ?? config.transport.egressEndpoint
            try egress.finish()
        }
        if let replay = try reader.section("replay") {
            config.transport.replayEndpoint = try replay.endpoint("endpoint") ?? config.transport.replayEndpoint
            try replay.finish()
        }
        if let dispatch = try reader.section("dispatch") {
            if let attempts = try dispatch.int("max_attempts", in: 1...100) { config.dispatch.retry.maxAttempts = attempts }
            if let backoff = try dispatch.intArray("backoff_ms", in: 0...3_600_000) {
                guard !backoff.isEmpty else {
                    throw ConfigError(origin: origin, key: "dispatch.backoff_ms", "give at least one delay, e.g. [0, 100, 1000, 5000]")
                }
                config.dispatch.retry.backoff = backoff.map { Duration.milliseconds($0) }
            }
            if let slow = try dispatch.int("slow_handler_ms", in: 10...3_600_000) { config.dispatch.slowHandlerThreshold = .milliseconds(slow) }
            try dispatch.finish()
        }
        if let modules = try reader.section("modules") {
            if let enabled = try modules.stringArray("enabled") {
                let unknown = enabled.filter { !knownModules.contains($0) }
                guard unknown.isEmpty else {
                    let available = knownModules.isEmpty ? "none in this build" : knownModules.joined(separator: ", ")
                    throw ConfigError(origin: origin, key: "modules.enabled", "unknown module(s) \(unknown.joined(separator: ", ")); available: \(available)")
                }
                config.modules = enabled
            }
            if let remote = try modules.stringArray("remote") {
                let unknown = remote.filter { !knownModules.contains($0) }
                guard unknown.isEmpty else {
                    throw ConfigError(origin: origin, key: "modules.remote", "unknown module(s) \(unknown.joined(separator: ", ")); available: \(knownModules.joined(separator: ", "))")
                }
                let both = remote.filter { config.modules?.contains($0) == true }
                guard both.isEmpty else {
                    throw ConfigError(origin: origin, key: "modules.remote", "\(both.joined(separator: ", ")) cannot run both here (modules.enabled) and elsewhere; list each module once")
                }
                config.remoteModules = remote
            }
            try modules.finish()
        }
        if let storage = try reader.section("storage") {
            (config.defaultStorage, config.storage, config.logStorage) = try moduleStorage(storage, knownModules: knownModules)
        }
        let link = try reader.section("link")
        if let link {
            config.transport.linkEndpoint = try link.endpoint("endpoint") ?? config.transport.linkEndpoint
            try link.finish()
        }
        if let core = try reader.section("core") {
            config.core = try coreConnection(core)
            guard config.remoteModules.isEmpty else {
                throw ConfigError(origin: origin, key: "modules.remote", "a module process ([core]) hosts its modules itself; remote modules are the core's business")
            }
            guard link == nil else {
                throw ConfigError(origin: origin, key: "link", "[link] is where a core listens for module processes; a module process ([core]) reaches its core through [core] endpoints: remove [link] here")
            }
        }
        if let plugins = try reader.section("plugins") {
            config.pluginPaths = try plugins.stringArray("paths") ?? []
            try plugins.finish()
        }
        if let http = try reader.section("http") {
            if let text = try http.string("endpoint", nonEmpty: true) {
                if text == "off" {
                    config.http = nil
                } else {
                    guard let endpoint = HTTPEndpoint(text) else {
                        throw ConfigError(origin: origin, key: "http.endpoint", "\"\(text)\" is not HOST:PORT; write e.g. \"127.0.0.1:8780\", or \"off\" for no HTTP side")
                    }
                    config.http = endpoint
                }
            }
            for publisher in try http.tables("publishers") {
                guard let name = try publisher.string("name", nonEmpty: true) else { throw publisher.missing("name", example: "\"vdab-intake\"") }
                let token = try publisher.secret("token")
                guard token.utf8.count >= 16 else { throw publisher.invalid("token", "use at least 16 characters (e.g. from `openssl rand -hex 24`)") }
                config.httpPublishers.append(HTTPPublisher(name: name, token: token, events: try eventPatterns(publisher)))
                try publisher.finish()
            }
            config.httpUsers = try httpUsers(http)
            try http.finish()
        }
        if let security = try reader.section("security") {
            config.transport.security = try transportSecurity(security)
        }
        if let privacy = try reader.section("privacy") {
            if let publishers = try privacy.stringArray("system_publishers") {
                config.transport.actors = ActorRule(systemPublishers: Set(publishers))
            }
            if let retention = try privacy.section("retention") {
                for purpose in retention.keys {
                    guard Purpose.isValidName(purpose) else {
                        throw retention.invalid(purpose, "is not a purpose name: lower-case words joined by dashes, e.g. activation-trajectory")
                    }
                    config.retentionDays[Purpose(rawValue: purpose)] = try retention.int(purpose, in: 1...36_500)
                }
                try retention.finish()
            }
            if let grants = try privacy.section("grants") {
                config.purposeGrants = try purposeGrants(grants, knownModules: knownModules)
            }
            try privacy.finish()
        }
        if let notifications = try reader.section("notifications") {
            config.notifications = try notificationsConfiguration(notifications)
        }
        if let cluster = try reader.section("cluster") {
            config.cluster = try clusterConfiguration(cluster, config: config)
        }
        if let log = try reader.section("log") {
            if let level = try log.string("level") {
                guard let parsed = Logger.Level(rawValue: level) else {
                    throw ConfigError(origin: origin, key: "log.level", "\"\(level)\" is not a level; use one of trace, debug, info, notice, warning, error, critical")
                }
                config.logLevel = parsed
            }
            try log.finish()
        }
        try reader.finish()
        return config
    }
}

extension ConfigLoader {
    /// `[security]`: the node's CURVE secret key (`secret_key_file` or `secret_key_env`) and
    /// `[[security.keys]]`: name, `public_key` or `public_key_file`, `events` it may publish, and
    /// `modules` a process with that key may host over the module link.
    static func transportSecurity(_ section: TableReader) throws(ConfigError) -> TransportSecurity {
        let keys = try curveKeys(section)
        var clients: [TransportSecurity.Client] = []
        for entry in try section.tables("keys") {
            guard let name = try entry.string("name", nonEmpty: true) else { throw entry.missing("name", example: "\"vdab-intake\"") }
            let publicKey: String
            switch (try entry.string("public_key", nonEmpty: true), try entry.string("public_key_file", nonEmpty: true)) {
            case (let key?, nil): publicKey = key
            case (nil, let path?):
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw entry.invalid("public_key_file", "cannot read \(path)") }
                publicKey = text.trimmingCharacters(in: .whitespacesAndNewlines)
            default: throw entry.invalid("public_key", "give exactly one of public_key and public_key_file (the .pub file of `wzt keys generate`)")
            }
            guard Curve.isKey(publicKey) else { throw entry.invalid("public_key", "not a CURVE public key (40 Z85 characters, the content of a .pub file)") }
            guard !clients.contains(where: { $0.name == name || $0.publicKey == publicKey }) else {
                throw entry.invalid("name", "another key has the same name or public key; give each client its own")
            }
            clients.append(.init(name: name, publicKey: publicKey, events: try eventPatterns(entry, allowEmpty: true), modules: try entry.stringArray("modules") ?? []))
            try entry.finish()
        }
        try section.finish()
        return TransportSecurity(keys: keys, clients: clients)
    }

    /// A CURVE key pair from `secret_key_file` (mode 0600) or `secret_key_env`.
    static func curveKeys(_ section: TableReader) throws(ConfigError) -> CurveKeyPair {
        let generate = "make one with `wzt keys generate --out keys --name core`"
        let secret: String
        switch (try section.string("secret_key_file", nonEmpty: true), try section.string("secret_key_env", nonEmpty: true)) {
        case (let path?, nil):
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw section.invalid("secret_key_file", "cannot read \(path); \(generate)")
            }
            if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
                throw section.invalid("secret_key_file", "\(path) is readable by others (mode \(String(mode, radix: 8))); run `chmod 600 \(path)`")
            }
            secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        case (nil, let variable?):
            guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
                throw section.invalid("secret_key_env", "environment variable \(variable) is not set; export it or use secret_key_file")
            }
            secret = value
        default:
            throw section.invalid("secret_key_file", "give exactly one of secret_key_file and secret_key_env; \(generate)")
        }
        guard let keys = CurveKeyPair(secretKey: secret) else {
            throw section.invalid("secret_key_file", "not a CURVE secret key (40 Z85 characters); \(generate)")
        }
        return keys
    }

    /// `[core]`: `endpoint` of the core's module link; with CURVE, `server_key` or `server_key_file`
    /// (the core's public key) and `secret_key_file` or `secret_key_env` (this process's own key).
    /// `[privacy.grants]`: a module name = the purposes it may read events for.
    static func purposeGrants(_ grants: TableReader, knownModules: [String]) throws(ConfigError) -> [String: Set<Purpose>] {
        var result: [String: Set<Purpose>] = [:]
        for module in grants.keys {
            guard knownModules.contains(module) else {
                throw grants.invalid(module, "unknown module; available: \(knownModules.joined(separator: ", "))")
            }
            let purposes = try grants.stringArray(module) ?? []
            for purpose in purposes where !Purpose.isValidName(purpose) {
                throw grants.invalid(module, "\"\(purpose)\" is not a purpose name: lower-case words joined by dashes, e.g. \"activation-trajectory\"")
            }
            result[module] = Set(purposes.map(Purpose.init(rawValue:)))
        }
        try grants.finish()
        return result
    }

    /// `[storage]`: `default`, `log` or a module's name = "sqlite" or a PostgreSQL address.
    static func moduleStorage(_ section: TableReader, knownModules: [String]) throws(ConfigError)
        -> (fallback: ModuleStorage, byModule: [String: ModuleStorage], log: ModuleStorage) {
        var byModule: [String: ModuleStorage] = [:]
        var fallback = ModuleStorage.sqlite
        var log = ModuleStorage.sqlite
        for key in section.keys {
            guard key == "default" || key == "log" || knownModules.contains(key) else {
                throw section.invalid(key, "unknown module; write `default`, `log` (the event log) or one of \(knownModules.joined(separator: ", "))")
            }
            guard let text = try section.string(key, nonEmpty: true) else { continue }
            let storage: ModuleStorage
            if text == "sqlite" {
                storage = .sqlite
            } else {
                do { try PostgresStore.checkAddress(text) } catch { throw section.invalid(key, "\(error.message), or \"sqlite\"") }
                storage = .postgres(text)
            }
            switch key {
            case "default": fallback = storage
            case "log": log = storage
            default: byModule[key] = storage
            }
        }
        try section.finish()
        return (fallback, byModule, log)
    }

    /// `[cluster]`: this node's name among the core nodes sharing one PostgreSQL log, and the
    /// length of the leases by which they share out the modules.
    static func clusterConfiguration(_ section: TableReader, config: NodeConfiguration) throws(ConfigError) -> ClusterConfiguration {
        guard let node = try section.string("node", nonEmpty: true) else { throw section.missing("node", example: "\"core-a\" (unique among the nodes)") }
        guard node.utf8.count <= 63, node.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw section.invalid("node", "\"\(node)\" is not a node name: up to 63 ASCII letters, digits, '-', '_' and '.', e.g. \"core-a\"")
        }
        var cluster = ClusterConfiguration(node: node)
        // Below a second a busy node misses renewals and the modules change hands for nothing.
        if let lease = try section.int("lease_ms", in: 1000...60_000) { cluster.lease = .milliseconds(lease) }
        try section.finish()
        guard config.core == nil else {
            throw section.invalid("node", "a module process ([core]) is not a core node: leave [cluster] out, and list the nodes in [core] endpoints")
        }
        guard case .postgres = config.logStorage else {
            throw section.invalid("node", "several core nodes share one event log in PostgreSQL: set [storage] log = \"postgres://…\" on every node")
        }
        return cluster
    }

    static func coreConnection(_ section: TableReader) throws(ConfigError) -> CoreConnection {
        // One core node (`endpoint`), or the nodes of a cluster (`endpoints`): the module connects to each.
        let endpoints: [String], key: String
        let nodes = "[\"tcp://core-a:5558\", \"tcp://core-b:5558\"]"
        switch (try section.string("endpoint", nonEmpty: true), try section.stringArray("endpoints", example: nodes)) {
        case (let endpoint?, nil): (endpoints, key) = ([endpoint], "endpoint")
        case (nil, let listed?):
            guard !listed.isEmpty else { throw section.invalid("endpoints", "lists no core node; list the link endpoint of each, e.g. \(nodes)") }
            (endpoints, key) = (listed, "endpoints")
        case (nil, nil): throw section.missing("endpoint", example: "\"tcp://core.example:5558\", or endpoints = \(nodes) for the nodes of a cluster")
        default: throw section.invalid("endpoints", "give one of endpoint (one core node) and endpoints (the nodes of a cluster), not both")
        }
        for endpoint in endpoints {
            let port = endpoint.hasPrefix("tcp://") ? endpoint.split(separator: ":").last.flatMap { UInt16($0) } : 0
            guard ["tcp://", "ipc://", "inproc://"].contains(where: endpoint.hasPrefix), port != nil else {
                throw section.invalid(key, "\"\(endpoint)\" is not a ZeroMQ endpoint to connect to; write tcp://HOST:PORT")
            }
        }
        guard Set(endpoints).count == endpoints.count else { throw section.invalid("endpoints", "lists an endpoint twice; list each core node once") }
        let serverKey: String?
        switch (try section.string("server_key", nonEmpty: true), try section.string("server_key_file", nonEmpty: true)) {
        case (nil, nil): serverKey = nil
        case (let key?, nil): serverKey = key
        case (nil, let path?):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw section.invalid("server_key_file", "cannot read \(path)") }
            serverKey = text.trimmingCharacters(in: .whitespacesAndNewlines)
        default: throw section.invalid("server_key", "give one of server_key and server_key_file, not both")
        }
        let hasSecret = section.table["secret_key_file"] != nil || section.table["secret_key_env"] != nil
        guard let serverKey else {
            guard !hasSecret else { throw section.missing("server_key_file", example: "\"keys/core.pub\" (the core's public key)") }
            try section.finish()
            return CoreConnection(endpoints: endpoints)
        }
        guard Curve.isKey(serverKey) else { throw section.invalid("server_key", "not a CURVE public key (40 Z85 characters, the content of the core's .pub file)") }
        guard hasSecret else { throw section.missing("secret_key_file", example: "\"keys/intake.key\" (this module's own key, from `wzt keys generate`)") }
        let keys = try curveKeys(section)
        try section.finish()
        return CoreConnection(endpoints: endpoints, curve: CurveCredentials(keys: keys, serverKey: serverKey))
    }

    /// `[http.agencies]` (agency = [organisation ids]) and `[[http.users]]` (name, role, agency, token).
    static func httpUsers(_ http: TableReader) throws(ConfigError) -> [HTTPUser] {
        var agencies: [String: Set<String>] = [:]
        if let section = try http.section("agencies") {
            for name in section.keys {
                guard let organisations = try section.stringArray(name), !organisations.isEmpty else {
                    throw section.invalid(name, "list the organisation ids this agency appears under in events, e.g. \(name) = [\"org-vdab-gent\", \"VDAB Gent\"]")
                }
                agencies[name] = Set(organisations)
            }
            try section.finish()
        }
        var users: [HTTPUser] = []
        for user in try http.tables("users") {
            guard let name = try user.string("name", nonEmpty: true) else { throw user.missing("name", example: "\"an.peeters\"") }
            let roles = HTTPUser.Role.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
            guard let roleText = try user.string("role") else { throw user.missing("role", example: roles) }
            guard let role = HTTPUser.Role(rawValue: roleText) else { throw user.invalid("role", "\"\(roleText)\" is not a role; use \(roles)") }
            let token = try user.secret("token")
            guard token.utf8.count >= 16 else { throw user.invalid("token", "use at least 16 characters (e.g. from `openssl rand -hex 24`)") }
            let agency = try user.string("agency", nonEmpty: true)
            if role == .caseworker {
                guard let agency else { throw user.missing("agency", example: "\"vdab-gent\" (a key of [http.agencies])") }
                guard agencies[agency] != nil else {
                    let known = agencies.keys.sorted().joined(separator: ", ")
                    throw user.invalid("agency", "\"\(agency)\" is not in [http.agencies]\(known.isEmpty ? "; add it there with its organisation ids" : " (\(known))")")
                }
            }
            guard !users.contains(where: { $0.token == token }) else { throw user.invalid("token", "another user has the same token; give each user their own") }
            users.append(HTTPUser(name: name, token: token, role: role, agency: agency, organisations: agency.flatMap { agencies[$0] } ?? []))
            try user.finish()
        }
        return users
    }

    /// `[notifications]` with `[[notifications.webhook]]` and `[[notifications.email]]` channels.
    static func notificationsConfiguration(_ section: TableReader) throws(ConfigError) -> NotificationsConfiguration {
        var result = NotificationsConfiguration()
        result.maxAttempts = try section.int("max_attempts", in: 1...100) ?? result.maxAttempts
        if let first = try section.int("first_retry_ms", in: 1...3_600_000) { result.firstRetryDelay = .milliseconds(first) }
        if let timeout = try section.int("timeout_ms", in: 100...300_000) { result.timeout = .milliseconds(timeout) }
        for webhook in try section.tables("webhook") {
            guard let url = try webhook.string("url", nonEmpty: true) else { throw webhook.missing("url", example: "\"https://agency.example/wzt\"") }
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw webhook.invalid("url", "must start with http:// or https://") }
            result.channels.append(try channel(webhook, kind: .webhook(url: url, secret: try webhook.secret("secret"))))
        }
        for email in try section.tables("email") {
            guard let relay = try email.string("smtp", nonEmpty: true) else { throw email.missing("smtp", example: "\"127.0.0.1:25\"") }
            guard let colon = relay.lastIndex(of: ":"), let port = Int(relay[relay.index(after: colon)...]), (1...65535).contains(port),
                  !relay[..<colon].isEmpty else { throw email.invalid("smtp", "write HOST:PORT, e.g. \"127.0.0.1:25\"") }
            guard let from = try email.string("from", nonEmpty: true) else { throw email.missing("from", example: "\"wzt@agency.example\"") }
            guard let to = try email.stringArray("to"), !to.isEmpty else { throw email.missing("to", example: "[\"team@agency.example\"]") }
            for address in [from] + to where !isMailAddress(address) {
                throw email.invalid(address == from ? "from" : "to", "\"\(address)\" is not an e-mail address (name@domain)")
            }
            result.channels.append(try channel(email, kind: .email(host: String(relay[..<colon]), port: port, from: from, to: to)))
        }
        let names = result.channels.map(\.name)
        if let duplicate = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw ConfigError(origin: section.origin, key: "notifications", "two channels are named \"\(duplicate)\"; names must be unique")
        }
        try section.finish()
        return result
    }

    private static func channel(_ table: TableReader, kind: Channel.Kind) throws(ConfigError) -> Channel {
        guard let name = try table.string("name", nonEmpty: true) else { throw table.missing("name", example: "\"vdab-casework\"") }
        let events = try eventPatterns(table)
        let link = try table.string("link", nonEmpty: true)
        try table.finish()
        return Channel(name: name, kind: kind, events: events, link: link)
    }

    /// `events = [...]`: one or more event type patterns.
    static func eventPatterns(_ table: TableReader, allowEmpty: Bool = false) throws(ConfigError) -> [EventPattern] {
        guard let patterns = try table.stringArray("events"), allowEmpty || !patterns.isEmpty else {
            throw table.missing("events", example: "[\"be.wzt.ama.*\", \"be.wzt.intake.trajectory-limit-reached\"]")
        }
        var events: [EventPattern] = []
        for pattern in patterns {
            do { events.append(try EventPattern(pattern)) } catch { throw table.invalid("events", "\"\(pattern)\" is not an event type pattern: \(error)") }
        }
        return events
    }

    private static func isMailAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !text.contains(where: { $0 == "<" || $0 == ">" || $0.isWhitespace || $0.isNewline })
    }
}

/// Reads one TOML table and remembers which keys were used, so that `finish` can name the
/// keys nobody asked for (usually typos).
final class TableReader {
    let table: TOMLTable
    let origin: String
    let prefix: String
    private var used: Set<String> = []

    init(table: TOMLTable, origin: String, prefix: String = "") {
        self.table = table
        self.origin = origin
        self.prefix = prefix
    }

    private func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(origin: origin, key: prefix + key, message)
    }

    /// The keys of a table whose keys are names (agencies, say), in order.
    var keys: [String] { table.keys.sorted() }

    func section(_ key: String) throws(ConfigError) -> TableReader? {
        used.insert(key)
        guard let value = table[key] else { return nil }
        guard let section = value.table else { throw error(key, "must be a table: write [\(prefix + key)] on a line of its own") }
        return TableReader(table: section, origin: origin, prefix: prefix + key + ".")
    }

    func string(_ key: String, nonEmpty: Bool = false) throws(ConfigError) -> String? {
        used.insert(key)
        guard let value = table[key] else { return nil }
        guard let text = value.string else { throw error(key, "must be a string in double quotes") }
        if nonEmpty && text.isEmpty { throw error(key, "must not be empty") }
        return text
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        used.insert(key)
        guard let value = table[key] else { return nil }
        guard let number = value.int else { throw error(key, "must be an integer") }
        guard range.contains(number) else { throw error(key, "must be between \(range.lowerBound) and \(range.upperBound); got \(number)") }
        return number
    }

    func intArray(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> [Int]? {
        used.insert(key)
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw error(key, "must be an array of integers, e.g. [0, 100, 1000]") }
        var numbers: [Int] = []
        for element in array {
            guard let number = element.int, range.contains(number) else {
                throw error(key, "every element must be an integer between \(range.lowerBound) and \(range.upperBound)")
            }
            numbers.append(number)
        }
        return numbers
    }

    func stringArray(_ key: String, example: String = "[\"intake\", \"networks\"]") throws(ConfigError) -> [String]? {
        used.insert(key)
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw error(key, "must be an array of strings, e.g. \(example)") }
        var strings: [String] = []
        for element in array {
            guard let text = element.string else { throw error(key, "every element must be a string in double quotes") }
            strings.append(text)
        }
        return strings
    }

    /// A ZeroMQ endpoint to bind: tcp://HOST:PORT, ipc://PATH or inproc://NAME.
    func endpoint(_ key: String) throws(ConfigError) -> String? {
        guard let text = try string(key, nonEmpty: true) else { return nil }
        if let problem = NodeConfiguration.endpointProblem(text) { throw error(key, problem) }
        return text
    }

    /// An array of tables, `[[key]]`; empty when absent.
    func tables(_ key: String) throws(ConfigError) -> [TableReader] {
        used.insert(key)
        guard let value = table[key] else { return [] }
        guard let array = value.array else { throw error(key, "must be an array of tables: write [[\(prefix + key)]] above each one") }
        var readers: [TableReader] = []
        for (index, element) in array.enumerated() {
            guard let table = element.table else { throw error(key, "must be an array of tables: write [[\(prefix + key)]] above each one") }
            readers.append(TableReader(table: table, origin: origin, prefix: prefix + key + "[\(index)]."))
        }
        return readers
    }

    /// A secret given as `key` in the file or, better, as `key_env`: the name of an environment
    /// variable that holds it. Exactly one of the two.
    func secret(_ key: String) throws(ConfigError) -> String {
        switch (try string(key, nonEmpty: true), try string(key + "_env", nonEmpty: true)) {
        case (let value?, nil): return value
        case (nil, let variable?):
            guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
                throw error(key + "_env", "environment variable \(variable) is not set; export it or use `\(key)`")
            }
            return value
        default: throw error(key, "give exactly one of `\(key)` and `\(key)_env` (the name of an environment variable holding it)")
        }
    }

    func missing(_ key: String, example: String) -> ConfigError { error(key, "is required, e.g. \(key) = \(example)") }
    func invalid(_ key: String, _ message: String) -> ConfigError { error(key, message) }

    func finish() throws(ConfigError) {
        let unknown = table.keys.filter { !used.contains($0) }.sorted()
        guard let first = unknown.first else { return }
        let known = used.sorted().map { prefix + $0 }.joined(separator: ", ")
        throw error(first, "unknown key; the keys here are: \(known)")
    }
}
