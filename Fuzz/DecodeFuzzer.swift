// libFuzzer entry point for the wire decoders (datagrams and LAN beacons). Built by Fuzz/run.sh
// together with the sources of MeshstepWire (which has no dependencies), never by SwiftPM.
//
// Properties checked on every input:
// - decoding never traps and never allocates beyond the input (AddressSanitizer watches);
// - whatever decodes re-encodes to a datagram that decodes to the same message (round trip).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    if let beacon = try? LANBeacon.decode(bytes) {
        guard beacon.encode() == bytes, (try? LANBeacon.decode(beacon.encode())) == beacon else { fatalError("beacon round trip failed for \(bytes)") }
    }
    guard let decoded = try? Datagram.decode(bytes) else { return 0 }
    var again = Datagram.encode(decoded.message, linkSeq: decoded.linkSeq)
    if decoded.message.isLinkAuthenticated { again += decoded.tag ?? [] }
    guard let redecoded = try? Datagram.decode(again, maxSize: 65_507), redecoded.message == decoded.message else {
        fatalError("round trip failed for \(bytes)")
    }
    return 0
}
