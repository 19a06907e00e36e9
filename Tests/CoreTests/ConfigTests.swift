import Bus
import Foundation
import Logging
import Notifications
import TestSupport
import Testing
import ZeroMQ
@testable import Core

struct ConfigTests {
    @Test func emptyFileGivesTheDefaults() throws {
        let config = try ConfigLoader.parse("", origin: "test.toml", knownModules: [])
        #expect(config.dataDirectory == "./data")
        #expect(config.transport.ingressEndpoint == "tcp://127.0.0.1:5555")
        #expect(config.transport.egressEndpoint == "tcp://127.0.0.1:5556")
        #expect(config.maxEventBytes == 1 << 20)
        #expect(config.modules == nil)
    }

    @Test func noFileAtAllGivesTheDefaults() throws {
        let directory = FileManager.default.currentDirectoryPath
        let empty = NSTemporaryDirectory() + "wzt-noconfig-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect(FileManager.default.changeCurrentDirectoryPath(empty))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(directory) }
        let config = try ConfigLoader.load(path: nil, knownModules: [])
        #expect(config.origin == "built-in defaults")
        #expect(config.dataDirectory == "./data")
    }

    @Test func shippedDefaultFileMatchesTheBuiltInDefaults() throws {
        let path = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../Config/wzt.toml").path
        let shipped = try ConfigLoader.load(path: path, knownModules: [])
        let builtIn = NodeConfiguration()
        #expect(shipped.dataDirectory == builtIn.dataDirectory)
        #expect(shipped.transport == builtIn.transport)
        #expect(shipped.maxEventBytes == builtIn.maxEventBytes)
        #expect(shipped.dispatch.retry == builtIn.dispatch.retry)
        #expect(shipped.dispatch.slowHandlerThreshold == builtIn.dispatch.slowHandlerThreshold)
        #expect(shipped.logLevel == builtIn.logLevel)
        #expect(shipped.pluginPaths == builtIn.pluginPaths)
        #expect(shipped.http == builtIn.http)
        #expect(shipped.storage == builtIn.storage && shipped.defaultStorage == builtIn.defaultStorage)
        #expect(shipped.notifications.channels.isEmpty)
        #expect(shipped.notifications.maxAttempts == builtIn.notifications.maxAttempts)
        #expect(shipped.notifications.firstRetryDelay == builtIn.notifications.firstRetryDelay)
        #expect(shipped.notifications.timeout == builtIn.notifications.timeout)
    }

    @Test func valuesAreRead() throws {
        let config = try ConfigLoader.parse("""
            [data]
            dir = "/var/lib/wzt"
            [ingress]
            endpoint = "tcp://127.0.0.1:7000"
            [dispatch]
            max_attempts = 2
            backoff_ms = [0, 50]
            [modules]
            enabled = ["intake"]
            [plugins]
            paths = ["/opt/wzt/plugins"]
            [log]
            level = "debug"
            """, origin: "test.toml", knownModules: ["intake", "networks"])
        #expect(config.pluginPaths == ["/opt/wzt/plugins"])
        #expect(config.dataDirectory == "/var/lib/wzt")
        #expect(config.transport.ingressEndpoint == "tcp://127.0.0.1:7000")
        #expect(config.dispatch.retry.maxAttempts == 2)
        #expect(config.dispatch.retry.backoff == [.zero, .milliseconds(50)])
        #expect(config.modules == ["intake"])
        #expect(config.logLevel == .debug)
    }

    @Test(arguments: [
        ("[ingress]\nendpiont = \"tcp://127.0.0.1:1\"", "ingress.endpiont", "unknown key"),
        ("[bus]\nmax_event_bytes = \"big\"", "bus.max_event_bytes", "must be an integer"),
        ("[bus]\nmax_event_bytes = 10", "bus.max_event_bytes", "between 1024"),
        ("[ingress]\nendpoint = \"localhost:5555\"", "ingress.endpoint", "tcp://127.0.0.1:5555"),
        ("[egress]\nendpoint = \"tcp://127.0.0.1\"", "egress.endpoint", "needs a host and a port"),
        ("[modules]\nenabled = [\"intkae\"]", "modules.enabled", "unknown module(s) intkae"),
        ("[log]\nlevel = \"loud\"", "log.level", "trace, debug"),
        ("ingress = 5", "ingress", "must be a table"),
        ("[dispatch]\nbackoff_ms = []", "dispatch.backoff_ms", "at least one delay"),
        ("[surprise]\nx = 1", "surprise", "unknown key"),
        ("[plugins]\npaths = \"/opt\"", "plugins.paths", "array of strings"),
        ("[[notifications.webhook]]\nname = \"a\"\nevents = [\"*\"]\nsecret = \"k\"", "notifications.webhook[0].url", "is required"),
        ("[[notifications.webhook]]\nname = \"a\"\nurl = \"ftp://x\"\nevents = [\"*\"]\nsecret = \"k\"", "notifications.webhook[0].url", "http://"),
        ("[[notifications.webhook]]\nname = \"a\"\nurl = \"http://x\"\nevents = [\"*\"]", "notifications.webhook[0].secret", "exactly one of"),
        ("[[notifications.webhook]]\nname = \"a\"\nurl = \"http://x\"\nevents = [\"*\"]\nsecret_env = \"WZT_NOT_SET_ANYWHERE\"",
         "notifications.webhook[0].secret_env", "is not set"),
        ("[[notifications.webhook]]\nname = \"a\"\nurl = \"http://x\"\nevents = [\"*\"]\nsecret = \"k\"\nsceret = 1", "notifications.webhook[0].sceret", "unknown key"),
        ("[[notifications.webhook]]\nname = \"a\"\nurl = \"http://x\"\nevents = [\"be.wzt.*.x\"]\nsecret = \"k\"", "notifications.webhook[0].events", "not an event type pattern"),
        ("[[notifications.email]]\nname = \"m\"\nsmtp = \"localhost\"\nfrom = \"a@b.be\"\nto = [\"c@d.be\"]\nevents = [\"*\"]", "notifications.email[0].smtp", "HOST:PORT"),
        ("[[notifications.email]]\nname = \"m\"\nsmtp = \"h:25\"\nfrom = \"a@b.be\"\nto = [\"nobody\"]\nevents = [\"*\"]", "notifications.email[0].to", "not an e-mail address"),
        ("[[notifications.email]]\nname = \"m\"\nsmtp = \"h:25\"\nfrom = \"a@b.be\"\nto = [\"c@d.be\"]\nevents = [\"*\"]\n[[notifications.email]]\nname = \"m\"\nsmtp = \"h:25\"\nfrom = \"a@b.be\"\nto = [\"c@d.be\"]\nevents = [\"*\"]",
         "notifications", "named \"m\""),
        ("[notifications]\nwebhook = 3", "notifications.webhook", "array of tables"),
        ("[http]\nendpoint = \"8780\"", "http.endpoint", "HOST:PORT"),
        ("[[http.publishers]]\nname = \"p\"\ntoken = \"short\"\nevents = [\"*\"]", "http.publishers[0].token", "at least 16"),
        ("[[http.publishers]]\nname = \"p\"\ntoken = \"0123456789abcdef0\"", "http.publishers[0].events", "is required"),
        ("[[http.users]]\nname = \"an\"\nrole = \"admin\"\ntoken = \"0123456789abcdef0\"", "http.users[0].role", "\"operator\" or \"caseworker\""),
        ("[[http.users]]\nname = \"an\"\nrole = \"caseworker\"\ntoken = \"0123456789abcdef0\"", "http.users[0].agency", "is required"),
        ("[[http.users]]\nname = \"an\"\nrole = \"caseworker\"\nagency = \"vdab\"\ntoken = \"0123456789abcdef0\"", "http.users[0].agency", "not in [http.agencies]"),
        ("[http.agencies]\nvdab = []", "http.agencies.vdab", "organisation ids"),
        ("[security]\nsecret_key_env = \"WZT_NOT_SET_ANYWHERE\"", "security.secret_key_env", "is not set"),
        ("[security]\nsecret_key_file = \"/nonexistent/core.key\"", "security.secret_key_file", "wzt keys generate"),
        ("[security]", "security.secret_key_file", "exactly one of"),
        // The TOML parser asserted (a crash) on these table headers; found by Scripts/fuzz toml-config.
        ("[\u{01}data]\ndir = \"d\"", "", "line 1, column 2: control character U+0001"),
        ("[data]\ndir = \"a\u{7F}b\"", "", "line 2, column 9: control character U+007F"),
        ("[data]\ndir = \"d\"\n[#x]", "", "line 3, column 2: a table name starts with"),
        ("# é\n  [[ *]]", "", "line 2, column 6: a table name starts with"),
        ("[data]\n[\n", "", "line 2, column 2: a table name starts with"),
        ("[ \r\n", "", "line 1, column 3: a table name starts with"),
        ("\u{FEFF}[[[x]]]", "", "line 1, column 3: a table name starts with"),
        ("[privacy]\nsystem_publishers = [}", "", "line 2, column 22: an array holds values"),
        ("[privacy]\nsystem_publishers = [\"a\", # c\n }", "", "line 3, column 2: an array holds values"),
        ("x = {a = [[}]]}", "", "line 1, column 12: an array holds values"),
        ("[storage]\ndefault = \"sqlite\"\n[ä]", "", "line 3, column 2: a table name starts with"),
        ("[storage]\nintkae = \"sqlite\"", "storage.intkae", "unknown module"),
        ("[storage]\nintake = \"mysql://db/wzt\"", "storage.intake", "postgres://user@host:port/database"),
        ("[storage]\ndefault = \"postgres://db.example/wzt\"", "storage.default", "not a PostgreSQL address"),
        ("[storage]\nlog = \"sqlite:///var/wzt\"", "storage.log", "postgres://user@host:port/database"),
        ("[[http.users]]\nname = \"a\"\nrole = \"operator\"\ntoken = \"0123456789abcdef0\"\n[[http.users]]\nname = \"b\"\nrole = \"operator\"\ntoken = \"0123456789abcdef0\"",
         "http.users[1].token", "same token"),
    ])
    func mistakesNameTheKeyAndTheFix(_ text: String, _ key: String, _ hint: String) throws {
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.parse(text, origin: "test.toml", knownModules: ["intake"]) }
        #expect(error?.key == key)
        #expect(error?.description.contains(hint) == true, "\(error?.description ?? "")")
        #expect(error?.description.hasPrefix("test.toml: ") == true)
    }

    /// The check before the TOML parser lets valid TOML through: arrays that start a line,
    /// brackets and `#` inside strings and comments, multi-line strings, and the shipped configs.
    @Test func theCheckBeforeTheParserPassesValidTOML() throws {
        let tricky = #"""
            # [#not a header]
            [modules]
            enabled = [
              "intake", # ]
            ]
            [plugins]
            paths = ["a[#]", '[*]', """
            [#still a string]
            """, '''
            [ä]''']
            [ "quoted" ]
            x = [
            [1, 2],
            ]
            [[ array.of-tables ]]
            """#
        #expect(TOMLPreflight.problem(in: tricky) == nil)
        let configs = ["Config/wzt.toml"] + (try FileManager.default.contentsOfDirectory(atPath: "Config/agencies")).map { "Config/agencies/\($0)" }
        for path in configs {
            #expect(TOMLPreflight.problem(in: try String(contentsOfFile: path, encoding: .utf8)) == nil, "\(path)")
        }
    }

    @Test func eachModuleKeepsItsTablesWhereStorageSays() throws {
        let config = try ConfigLoader.parse("""
            [storage]
            intake = "postgres://wzt@db.example:5433/agency"
            """, origin: "t", knownModules: ["intake", "networks"])
        #expect(config.storage(of: "intake") == .postgres("postgres://wzt@db.example:5433/agency"))
        #expect(config.storage(of: "networks") == .sqlite)
        let everything = try ConfigLoader.parse("[storage]\ndefault = \"postgres://wzt@db.example/wzt\"\nnetworks = \"sqlite\"",
                                                origin: "t", knownModules: ["intake", "networks"])
        #expect(everything.storage(of: "intake") == .postgres("postgres://wzt@db.example/wzt"))
        #expect(everything.storage(of: "networks") == .sqlite)
        // `default` is the modules' default: the event log moves only where `log` says.
        #expect(everything.logStorage == .sqlite)
        let log = try ConfigLoader.parse("[storage]\nlog = \"postgres://wzt@db.example/wzt\"", origin: "t", knownModules: ["intake"])
        #expect(log.logStorage == .postgres("postgres://wzt@db.example/wzt"))
        #expect(log.storage(of: "intake") == .sqlite)
    }

    @Test func aClusterNeedsItsLogInPostgreSQLAndANodeName() throws {
        let url = "postgres://wzt@db.example/wzt"
        let config = try ConfigLoader.parse("[storage]\nlog = \"\(url)\"\n[cluster]\nnode = \"core-a\"\nlease_ms = 1500", origin: "t", knownModules: ["intake"])
        #expect(config.cluster == ClusterConfiguration(node: "core-a", lease: .milliseconds(1500)))
        #expect(try ConfigLoader.parse("[storage]\nlog = \"\(url)\"\n[cluster]\nnode = \"b\"", origin: "t", knownModules: []).cluster?.lease == .seconds(3))
        let refusals: [(String, String)] = [
            ("[cluster]\nnode = \"core-a\"", "[storage] log"),
            ("[storage]\nlog = \"\(url)\"\n[cluster]\nlease_ms = 2000", "node"),
            ("[storage]\nlog = \"\(url)\"\n[cluster]\nnode = \"core a\"", "not a node name"),
            ("[storage]\nlog = \"\(url)\"\n[cluster]\nnode = \"core-a\"\nlease_ms = 999", "lease_ms"),
            ("[storage]\nlog = \"\(url)\"\n[cluster]\nnode = \"core-a\"\nleases = 1", "leases"),
            ("[core]\nendpoint = \"tcp://core-a:5558\"\n[storage]\nlog = \"\(url)\"\n[cluster]\nnode = \"core-a\"", "[core] endpoints"),
        ]
        for (text, said) in refusals {
            let error = #expect(throws: ConfigError.self) { try ConfigLoader.parse(text, origin: "t", knownModules: ["intake"]) }
            #expect(error?.description.contains(said) == true, "\(error?.description ?? "")")
        }
    }

    /// The nodes of a cluster each run the remote modules they hold the lease on; a module process lists every node.
    @Test func aModuleProcessListsTheNodesOfAClusterAndEachNodeTakesRemoteModules() throws {
        let url = "postgres://wzt@db.example/wzt"
        let node = try ConfigLoader.parse("[modules]\nenabled = []\nremote = [\"intake\"]\n[storage]\nlog = \"\(url)\"\n[cluster]\nnode = \"core-a\"",
                                          origin: "t", knownModules: ["intake"])
        #expect(node.remoteModules == ["intake"] && node.cluster?.node == "core-a")
        let process = try ConfigLoader.parse("[modules]\nenabled = [\"intake\"]\n[core]\nendpoints = [\"tcp://core-a:5558\", \"tcp://core-b:5558\"]",
                                             origin: "t", knownModules: ["intake"])
        #expect(process.core?.endpoints == ["tcp://core-a:5558", "tcp://core-b:5558"])
        #expect(try ConfigLoader.parse("[core]\nendpoint = \"tcp://core:5558\"", origin: "t", knownModules: []).core?.endpoints == ["tcp://core:5558"])
        let refusals: [(String, String)] = [
            ("[core]\nendpoint = \"tcp://a:1\"\nendpoints = [\"tcp://b:1\"]", "not both"),
            ("[core]\nendpoints = []", "`core.endpoints`: lists no core node"),
            ("[core]\nendpoints = \"tcp://a:1\"", "`core.endpoints`: must be an array of strings, e.g. [\"tcp://core-a:5558\""),
            ("[core]\nendpoints = [\"http://a:1\"]", "`core.endpoints`: \"http://a:1\" is not"),
            ("[core]\nendpoint = \"tcp://127.0.0.1:99999\"", "`core.endpoint`: \"tcp://127.0.0.1:99999\" is not"),
            ("[core]\nendpoints = [\"tcp://a:1\", \"a:2\"]", "\"a:2\" is not a ZeroMQ endpoint"),
            ("[core]\nendpoints = [\"tcp://a:1\", \"tcp://a:1\"]", "twice"),
            ("[link]\nendpoint = \"tcp://127.0.0.1:5558\"\n[core]\nendpoint = \"tcp://a:1\"", "`link`: [link] is where a core listens"),
        ]
        for (text, said) in refusals {
            let error = #expect(throws: ConfigError.self) { try ConfigLoader.parse(text, origin: "t", knownModules: []) }
            #expect(error?.description.contains(said) == true, "\(error?.description ?? "")")
        }
    }

    /// A log in the data directory is not left behind silently when `log` names a server.
    @Test func aLogInPostgreSQLIsRefusedBesideALogFileOfTheDataDirectory() async throws {
        let directory = TemporaryDirectory("wzt-config-log")
        var config = NodeConfiguration()
        config.dataDirectory = directory.path
        try EventLog(path: config.logPath).close()
        config.logStorage = .postgres("postgres://wzt@127.0.0.1:1/wzt")
        let error = await #expect(throws: ConfigError.self) { try await config.openLog(logger: Logger(label: "test")) }
        #expect(error?.key == "storage.log")
        #expect(error?.description.contains(config.logPath) == true)
    }

    @Test func httpSideCanBeMovedOrTurnedOff() throws {
        #expect(try ConfigLoader.parse("[http]\nendpoint = \"0.0.0.0:9000\"", origin: "t", knownModules: []).http == HTTPEndpoint(host: "0.0.0.0", port: 9000))
        #expect(try ConfigLoader.parse("[http]\nendpoint = \"off\"", origin: "t", knownModules: []).http == nil)
        let publishers = try ConfigLoader.parse("[[http.publishers]]\nname = \"vdab\"\ntoken = \"0123456789abcdef0\"\nevents = [\"be.wzt.intake.*\"]",
                                                origin: "t", knownModules: []).httpPublishers
        #expect(publishers.map(\.name) == ["vdab"])
        #expect(publishers.first?.events.first?.matches("be.wzt.intake.screening-requested") == true)
    }

    @Test func securityReadsTheNodesKeyAndTheClientsKeys() throws {
        let directory = TemporaryDirectory("wzt-config-keys")
        let keys = try CurveKeyPair.generate(), client = try CurveKeyPair.generate()
        let path = directory.file("core.key")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(keys.secretKey.utf8), attributes: [.posixPermissions: 0o600]))
        let text = """
            [security]
            secret_key_file = "\(path)"

            [[security.keys]]
            name = "vdab-intake"
            public_key = "\(client.publicKey)"
            events = ["be.wzt.intake.*"]

            [[security.keys]]
            name = "reader"
            public_key = "\(keys.publicKey)"
            events = []
            """
        let security = try #require(try ConfigLoader.parse(text, origin: "t", knownModules: []).transport.security)
        #expect(security.keys == keys)
        #expect(security.clients.map(\.name) == ["vdab-intake", "reader"] && security.clients.last?.events.isEmpty == true)

        let badKey = #expect(throws: ConfigError.self) {
            try ConfigLoader.parse(text.replacingOccurrences(of: client.publicKey, with: "not-a-key"), origin: "t", knownModules: [])
        }
        #expect(badKey?.key == "security.keys[0].public_key" && badKey?.message.contains("40 Z85") == true, "\(badKey?.description ?? "")")
        let sameKey = #expect(throws: ConfigError.self) {
            try ConfigLoader.parse(text.replacingOccurrences(of: keys.publicKey, with: client.publicKey), origin: "t", knownModules: [])
        }
        #expect(sameKey?.message.contains("same name or public key") == true)
        #expect(try ConfigLoader.parse("", origin: "t", knownModules: []).transport.exposedPlainEndpoints.isEmpty)
        var exposed = NodeConfiguration()
        exposed.transport.replayEndpoint = "tcp://*:5557"
        #expect(throws: ConfigError.self) { try exposed.checkExposure() }
        exposed.transport.security = security
        try exposed.checkExposure()
        // Transports other than tcp, ipc and inproc may reach beyond this host: they were once let through.
        for endpoint in ["tipc://{5560,0,0}", "epgm://eth0;239.192.1.1:5555", "vmci://1:5555"] {
            var other = NodeConfiguration()
            other.transport.ingressEndpoint = endpoint
            #expect(throws: ConfigError.self, "\(endpoint)") { try other.checkExposure() }
            #expect(NodeConfiguration.endpointProblem(endpoint) != nil, "\(endpoint)")
        }
        #expect(NodeConfiguration.endpointProblem("ipc:///run/wzt/ingress") == nil && NodeConfiguration.endpointProblem("tcp://127.0.0.1:*") == nil)
    }

    @Test func usersGetTheirAgencysOrganisations() throws {
        let users = try ConfigLoader.parse("""
            [http.agencies]
            vdab-gent = ["org-vdab-gent", "VDAB Gent"]

            [[http.users]]
            name = "an"
            role = "caseworker"
            agency = "vdab-gent"
            token = "0123456789abcdef0"

            [[http.users]]
            name = "ops"
            role = "operator"
            token = "0123456789abcdef1"
            """, origin: "t", knownModules: []).httpUsers
        #expect(users.map(\.name) == ["an", "ops"])
        #expect(users.first?.role == .caseworker && users.first?.organisations == ["org-vdab-gent", "VDAB Gent"])
        #expect(users.last?.role == .operator && users.last?.organisations.isEmpty == true)
    }

    @Test func notificationChannelsAreRead() throws {
        let config = try ConfigLoader.parse("""
            [notifications]
            max_attempts = 4
            first_retry_ms = 250
            [[notifications.webhook]]
            name = "casework"
            url = "https://casework.example/wzt"
            secret = "k1"
            events = ["be.wzt.ama.*"]
            link = "https://casework.example/{reference}"
            [[notifications.email]]
            name = "mailbox"
            smtp = "127.0.0.1:2525"
            from = "wzt@zorg.example"
            to = ["a@zorg.example", "b@zorg.example"]
            events = ["be.wzt.mandating.*"]
            """, origin: "test.toml", knownModules: [])
        #expect(config.notifications.maxAttempts == 4)
        #expect(config.notifications.firstRetryDelay == .milliseconds(250))
        #expect(config.notifications.channels.map(\.name) == ["casework", "mailbox"])
        #expect(config.notifications.channels[0].kind == .webhook(url: "https://casework.example/wzt", secret: "k1"))
        #expect(config.notifications.channels[1].kind == .email(host: "127.0.0.1", port: 2525, from: "wzt@zorg.example", to: ["a@zorg.example", "b@zorg.example"]))
        #expect(config.notifications.channels[0].hears("be.wzt.ama.agreement-ended"))
        #expect(!config.notifications.channels[0].hears("be.wzt.mandating.decision-overdue"))
    }

    @Test func brokenTOMLSaysWhere() {
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.parse("[data\ndir = 1", origin: "bad.toml", knownModules: []) }
        #expect(error?.description.contains("line 1") == true)
    }

    @Test func missingFileGivenExplicitlyIsAnError() {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: "/nonexistent/wzt.toml", knownModules: []) }
    }
}

/// `[privacy.grants]`: the purposes each module may read events for in this deployment.
struct PurposeGrantTests {
    let notifications = NotificationsModule(configuration: NotificationsConfiguration())

    @Test func withoutGrantsEachModuleHasThePurposesItDeclares() throws {
        let config = try ConfigLoader.parse("", origin: "test.toml", knownModules: ["notifications"])
        #expect(config.purposeGrants == nil)
        try config.checkPurposes(of: [notifications])
    }

    @Test func systemPublishersAreRead() throws {
        #expect(try ConfigLoader.parse("", origin: "test.toml", knownModules: []).transport.actors.systemPublishers == [ActorRule.anonymous])
        let config = try ConfigLoader.parse("[privacy]\nsystem_publishers = [\"vdab-batch\"]", origin: "test.toml", knownModules: [])
        #expect(config.transport.actors.systemPublishers == ["vdab-batch"])
    }

    @Test func grantedPurposesAreRead() throws {
        let config = try ConfigLoader.parse("""
            [privacy.grants]
            notifications = ["informing"]
            intake = ["activation-trajectory", "informing"]
            """, origin: "test.toml", knownModules: ["intake", "notifications"])
        #expect(config.purposeGrants == ["notifications": ["informing"], "intake": ["activation-trajectory", "informing"]])
        try config.checkPurposes(of: [notifications])
    }

    @Test func aModuleReadingForAPurposeNotGrantedIsRefusedAtStart() throws {
        let config = try ConfigLoader.parse("""
            [privacy.grants]
            notifications = ["gbo-onboarding"]
            """, origin: "ocmw.toml", knownModules: ["notifications"])
        let error = try #require(#expect(throws: ConfigError.self) { try config.checkPurposes(of: [notifications]) })
        #expect(error.key == "privacy.grants.notifications")
        #expect(error.description.contains("module notifications reads be.wzt.intake.trajectory-limit-reached for the purpose \"informing\""))
        #expect(error.description.contains("add \"informing\" to privacy.grants.notifications"))
    }

    @Test func aModuleLeftOutOfTheGrantsIsGrantedNothing() throws {
        let config = try ConfigLoader.parse("""
            [privacy.grants]
            intake = ["activation-trajectory"]
            """, origin: "test.toml", knownModules: ["intake", "notifications"])
        #expect(throws: ConfigError.self) { try config.checkPurposes(of: [notifications]) }
    }

    @Test(arguments: [
        ("[privacy.grants]\nnobody = [\"informing\"]", "privacy.grants.nobody", "unknown module"),
        ("[privacy.grants]\nnotifications = [\"Informing!\"]", "privacy.grants.notifications", "not a purpose name"),
        ("[privacy.grants]\nnotifications = \"informing\"", "privacy.grants.notifications", "array of strings"),
        ("[privacy]\ngrant = 1", "privacy.grant", "unknown key"),
    ])
    func badGrantsSayWhatIsWrong(_ text: String, key: String, message: String) throws {
        let error = try #require(#expect(throws: ConfigError.self) {
            try ConfigLoader.parse(text, origin: "test.toml", knownModules: ["notifications"])
        })
        #expect(error.key == key)
        #expect(error.description.contains(message), "\(error)")
    }
}

struct RetentionConfigTests {
    @Test func retentionPeriodsAreReadInDays() throws {
        let config = try ConfigLoader.parse("[privacy.retention]\nactivation-trajectory = 3650\nama-agreement = 30", origin: "test.toml", knownModules: [])
        #expect(config.retentionDays == [.activationTrajectory: 3650, .amaAgreement: 30])
        #expect(try ConfigLoader.parse("", origin: "test.toml", knownModules: []).retentionDays.isEmpty)
    }

    @Test func aRetentionPeriodIsWholeDaysOfAKnownShape() throws {
        let zero = try #require(#expect(throws: ConfigError.self) { try ConfigLoader.parse("[privacy.retention]\nama-agreement = 0", origin: "t", knownModules: []) })
        #expect(zero.key == "privacy.retention.ama-agreement")
        let name = try #require(#expect(throws: ConfigError.self) { try ConfigLoader.parse("[privacy.retention]\n\"AMA\" = 5", origin: "t", knownModules: []) })
        #expect(name.description.contains("not a purpose name"))
    }
}
