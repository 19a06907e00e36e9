import PluginAPI

/// A fictional region whose activation trajectories may run 24 months: the smallest complete
/// example of a regional plugin (docs/plugins.md).
public final class ExampleEast: RegionalRules, RuleSetProvider {
    public let pluginName = "Example"
    public var ruleSets: [any RegionalRules] { [self] }

    public let id = "example-east-2025"
    public let region = "example-east"
    public let regime = "fictional decree of 1 January 2025"

    public init() {}

    public let offers: [Offer: EffectiveInterval] = [
        .activationTrajectory: EffectiveInterval(from: CalendarDate(year: 2025, month: 1, day: 1)!),
    ]

    public let activation = ActivationRules(
        minimumMonths: 3, maximumMonths: 24,
        extensionPolicy: ExtensionPolicy(maximumExtraMonths: nil, requiresMotivation: true, maximumExtensions: 0),
        planApprover: .networkCoordinator, hasDossierbeheerder: true, internshipsAllowed: true)

    public let mandating = MandateRules(
        procedure: .call(minimumFacilities: 2), mandateYears: 4,
        eligibleOrganisationKinds: [.samenwerkingsverbandZorg], staffMustKnowICF: false,
        mandatingAuthority: "Example East care department")

    public let networks = NetworkRules(mandatoryPartners: [[.caw]], appointedBy: "Example East employment service")
    public let ama: AMARules? = nil
    public let gbo: GBORules? = nil
}

/// The API version this plugin was compiled against, checked by wzt before anything else.
@_cdecl("wzt_plugin_api_version")
public func wztPluginAPIVersion() -> Int32 { PluginAPI.version }

/// The rule sets of this plugin, handed to wzt retained.
@_cdecl("wzt_plugin_entry")
public func wztPluginEntry() -> UnsafeMutableRawPointer {
    Unmanaged.passRetained(ExampleEast() as AnyObject).toOpaque()
}
