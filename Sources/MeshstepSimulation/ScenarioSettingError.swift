/// A scenario setting that cannot run, named by its command-line flag (`meshstep sim`,
/// `meshstep bots`): what was given and what the flag accepts.
public struct ScenarioSettingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The flag (`--players`, `--crash`...).
    public var flag: String
    /// The value given.
    public var value: String
    /// What the flag accepts.
    public var requirement: String

    /// An error for `flag` given `value`, which must be `requirement` (`"at least 2"`, `"1...32"`).
    public init(flag: String, value: String, requirement: String) {
        self.flag = flag
        self.value = value
        self.requirement = requirement
    }

    public var description: String { "\(flag) must be \(requirement) (got \(value))" }
}
