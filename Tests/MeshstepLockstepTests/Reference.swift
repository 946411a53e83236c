/// Reference values computed outside Swift (Python) for the stable-hash test.
enum StableHasherReference {
    static let meshstep: UInt64 = 0x9D292B94D426ED45
}
