import Foundation

/// The legal task for which a module reads an event: data may be processed only for the purpose
/// it was collected for (GDPR art. 5(1)(b)), so every subscription names one, and each deployment
/// grants its modules their purposes in config (`[privacy.grants]`).
public struct Purpose: RawRepresentable, Hashable, Comparable, Sendable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }

    /// Lower-case words of letters and digits joined by single dashes, e.g. "ama-agreement".
    public static func isValidName(_ text: String) -> Bool {
        // By bytes: it runs for every event, and comparing Characters cost a tenth of validation.
        var previous = UInt8(ascii: "-")
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): break
            case UInt8(ascii: "-") where previous != UInt8(ascii: "-"): break
            default: return false
            }
            previous = byte
        }
        return text.utf8.count <= 64 && previous != UInt8(ascii: "-")
    }

    public var description: String { rawValue }
    public static func < (lhs: Purpose, rhs: Purpose) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Screening, the VDAB advice and the activation trajectory that follows it, with the
    /// network of service providers that carries out its plan.
    public static let activationTrajectory: Purpose = "activation-trajectory"
    /// Calls for and mandates of casemanagers Zorg and samenwerkingsverbanden Zorg.
    public static let casemanagerMandate: Purpose = "casemanager-mandate"
    /// Arbeidsmatige activiteiten: supervisors, agreements, permissions, subsidies.
    public static let amaAgreement: Purpose = "ama-agreement"
    /// Onthaaltrajecten handed to the Geïntegreerd Breed Onthaal.
    public static let gboOnboarding: Purpose = "gbo-onboarding"
    /// Telling people and organisations what they must know about their case.
    public static let informing: Purpose = "informing"
    /// Carrying out a person's right to erasure (GDPR art. 17): every module receives it.
    public static let erasure: Purpose = "erasure"
}
