import AMA
import AMAContracts
import Bus
import GBOOnboarding
import GBOOnboardingContracts
import Intake
import IntakeContracts
import Mandating
import MandatingContracts
import ModuleKit
import Networks
import NetworksContracts
import Notifications

/// The modules and contracts this build of wzt knows.
public enum ModuleCatalog {
    /// Every contract of every module, hosted here or not: the core validates events for
    /// modules that run in other processes too.
    public static let contracts: [any EventContract.Type] = [
        PrivacyContracts.all, IntakeContracts.all, MandatingContracts.all, NetworksContracts.all, GBOOnboardingContracts.all, AMAContracts.all,
    ].flatMap { $0 }

    /// The modules this build can host, by name, made for one node's configuration.
    public static let modules: [String: @Sendable (NodeConfiguration) -> any Module] = [
        "ama": { _ in AMAModule() },
        "gbo-onboarding": { _ in GBOOnboardingModule() },
        "intake": { _ in IntakeModule() },
        "mandating": { _ in MandatingModule() },
        "networks": { _ in NetworksModule() },
        "notifications": { NotificationsModule(configuration: $0.notifications) },
    ]

    public static var moduleNames: [String] { modules.keys.sorted() }
}
