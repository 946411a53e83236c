/// Byte strings (hex) that once crashed or confused a decoder; each must now decode or throw.
/// Add every crashing input the fuzzer finds here.
enum FuzzRegressions {
    static let inputs: [String] = [
        // Varint of ten 0xFF bytes: overflow check at the last byte.
        "4d530110" + "0301" + String(repeating: "01", count: 32) + "ffffffffffffffffffff01",
        // Ref group with zero sequence numbers.
        "4d530111" + "01" + String(repeating: "02", count: 32) + "00" + String(repeating: "00", count: 16),
        // Tag-bearing kind shorter than a tag.
        "4d530113",
        // Fuzzer, round trip: a ping summary whose groups repeat an origin non-consecutively was
        // re-encoded with the groups merged, reordering the refs.
        "4d53012000000000000000231403060606060606060606060606060606060606060606060606060606060606060606060606060606060606060606060606060606002314030606060606060606060606060606060606060606060606060606060606060606060606060606060606060606060606060606060606060602020202000202010202020202020202000000",
    ]
}
