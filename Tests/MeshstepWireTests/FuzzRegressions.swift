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
    ]
}
