/// An operator asks, on a person's request or when a retention period ran out, that the personal
/// data about `subject` be erased. The core deletes the subject's key, then says so with
/// `SubjectErased`. Only operators (system publishers) send it; it carries no personal data.
public struct ErasureRequested: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.privacy.erasure-requested"
    public static let dataVersion = 1

    public var subject: String
    /// Why, for the record: "request of the person", "retention period ended" ...
    public var reason: String

    public init(subject: String, reason: String) {
        self.subject = subject
        self.reason = reason
    }
}

/// The subject's key is gone: its events' personal fields read as erased from now on, in every
/// replay. Every module receives it (purpose `erasure`) and removes what it keeps of them.
public struct SubjectErased: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.privacy.subject-erased"
    public static let dataVersion = 1

    public var subject: String
    public var reason: String

    public init(subject: String, reason: String) {
        self.subject = subject
        self.reason = reason
    }
}

public enum PrivacyContracts {
    public static let all: [any EventContract.Type] = [ErasureRequested.self, SubjectErased.self]
}
