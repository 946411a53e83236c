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
    /// Another running process holds the file (``IdentityFile/holdForThisProcess(_:)``).
    case inUse(path: String)

    public var description: String {
        switch self {
        case let .folderMissing(path):
            "identity file \(path): its folder does not exist; create it or pick another --identity path"
        case let .tooOpen(path, mode):
            "identity file \(path) is readable or writable by others (mode \(String(mode, radix: 8))): run 'chmod 600 \(path)'"
        case let .malformed(path, detail):
            "\(path) is not a Meshstep identity file (\(detail)); move it away to create a new identity there"
        case let .io(path, detail): "identity file \(path): \(detail)"
        case let .inUse(path):
            "identity file \(path) is in use by another running process: two peers with one key refuse each other; give each process its own --identity"
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
        // Written whole to a private temporary file, then linked into place: link() fails if the
        // name exists, so two processes started at once agree on one identity, and nobody ever
        // reads a half-written file.
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw .io(path: path, detail: "cannot create it: \(String(cString: strerror(errno)))") }
        defer { unlink(temporary) }
        let bytes = Array(text.utf8)
        let written = write(fd, bytes, bytes.count) == bytes.count && fsync(fd) == 0
        let writeError = String(cString: strerror(errno))
        close(fd)
        guard written else { throw .io(path: path, detail: "cannot write it: \(writeError)") }
        guard link(temporary, path) == 0 else {
            if errno == EEXIST, let existing = try load(path) { return (existing, false) }
            throw .io(path: path, detail: "cannot create it: \(String(cString: strerror(errno)))")
        }
        return (identity, true)
    }

    /// Locks `path` (an exclusive `flock`) until this process exits, so that a second process
    /// started with the same file fails at once instead of fighting over one key. A second call
    /// in the same process fails too.
    public static func holdForThisProcess(_ path: String) throws(IdentityFileError) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, detail: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            close(fd)
            throw busy ? .inUse(path: path) : .io(path: path, detail: "cannot lock it: \(reason)")
        }
        // The descriptor stays open on purpose: the lock ends with the process.
    }

    /// The identity in `path`, or nil when there is no such file.
    static func load(_ path: String) throws(IdentityFileError) -> NodeIdentity? {
        // One open, not following a symbolic link; the checks are on what was opened.
        let fd = open(path, O_RDONLY | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            if errno == ELOOP { throw .malformed(path: path, detail: "a symbolic link") }
            throw .io(path: path, detail: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(path: path, detail: String(cString: strerror(errno))) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .malformed(path: path, detail: "not a regular file") }
        let mode = Int(info.st_mode & 0o777)
        guard mode & 0o077 == 0 else { throw .tooOpen(path: path, mode: mode) }
        guard info.st_uid == geteuid() else { throw .io(path: path, detail: "it belongs to another user") }
        guard info.st_size <= 4096 else { throw .malformed(path: path, detail: "too large") }
        var buffer = [UInt8](repeating: 0, count: Int(info.st_size))
        guard read(fd, &buffer, buffer.count) == buffer.count else { throw .io(path: path, detail: "cannot read it") }
        let data = buffer
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
