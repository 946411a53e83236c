import Foundation
import MeshstepMesh

#if canImport(Glibc)
    import Glibc
#endif

/// Why an identity file could not be used. Each message says what to do.
public enum IdentityFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The folder the file should be in does not exist.
    case folderMissing(path: String)
    /// Other users may read or change the file: whoever reads it can play as this peer.
    case tooOpen(path: String, mode: Int)
    /// The file exists but is not an identity file.
    case malformed(path: String, detail: String)
    /// Reading or creating the file failed.
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case let .folderMissing(path):
            "identity file \(path): its folder does not exist; create it or pick another --identity path"
        case let .tooOpen(path, mode):
            "identity file \(path) is readable or writable by others (mode \(String(mode, radix: 8))): run 'chmod 600 \(path)'"
        case let .malformed(path, detail):
            "\(path) is not a Meshstep identity file (\(detail)); move it away to create a new identity there"
        case let .io(path, detail): "identity file \(path): \(detail)"
        }
    }
}

/// A node's identity kept in a file, so that a restarted process comes back as the same peer
/// (`--identity FILE`). The file holds the private seed as text,
/// `meshstep-identity-v1 <64 hex digits>`, and is created readable by its owner only (0600);
/// one that others may read is refused, as ssh refuses such a key.
public enum IdentityFile {
    static let header = "meshstep-identity-v1"

    /// The identity in `path`, or a new one written there (mode 0600) when the file is missing.
    /// - Returns: the identity, and whether this call created the file.
    public static func loadOrCreate(at path: String) throws(IdentityFileError) -> (identity: NodeIdentity, created: Bool) {
        let folder = (path as NSString).deletingLastPathComponent
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw .folderMissing(path: path)
        }
        if let identity = try load(path) { return (identity, false) }
        let identity = NodeIdentity()
        let text = header + " " + identity.privateSeed.map { String(format: "%02x", $0) }.joined() + "\n"
        // O_EXCL: two processes started at once with one path cannot both write it.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            if errno == EEXIST, let identity = try load(path) { return (identity, false) }
            throw .io(path: path, detail: "cannot create it: \(reason)")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw .io(path: path, detail: "cannot write it: \(reason)")
        }
        return (identity, true)
    }

    /// The identity in `path`, or nil when there is no such file.
    static func load(_ path: String) throws(IdentityFileError) -> NodeIdentity? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw .io(path: path, detail: String(cString: strerror(errno)))
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .malformed(path: path, detail: "not a regular file") }
        let mode = Int(info.st_mode & 0o777)
        guard mode & 0o077 == 0 else { throw .tooOpen(path: path, mode: mode) }
        guard info.st_size <= 4096, let data = FileManager.default.contents(atPath: path) else {
            throw .malformed(path: path, detail: info.st_size > 4096 ? "too large" : "unreadable")
        }
        let fields = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, fields[0] == header else { throw .malformed(path: path, detail: "expected '\(header) <64 hex digits>'") }
        let hex = Array(fields[1].utf8)
        guard hex.count == 64 else { throw .malformed(path: path, detail: "the seed has \(hex.count) hex digits, not 64") }
        var seed: [UInt8] = []
        for i in stride(from: 0, to: 64, by: 2) {
            guard let byte = UInt8(String(decoding: hex[i..<i + 2], as: UTF8.self), radix: 16) else {
                throw .malformed(path: path, detail: "the seed is not hexadecimal")
            }
            seed.append(byte)
        }
        do { return try NodeIdentity(seed: seed) } catch { throw .malformed(path: path, detail: "\(error)") }
    }
}
