import Foundation
import MeshstepMesh
import MeshstepNet
import Testing

@Suite("identity files")
struct IdentityFileTests {
    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meshstep-id-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    @Test("a missing file is created readable by its owner only; loading it again gives the same identity")
    func createThenLoad() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bot.id"
        let first = try IdentityFile.loadOrCreate(at: path)
        #expect(first.created)
        let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let again = try IdentityFile.loadOrCreate(at: path)
        #expect(!again.created && again.identity.key == first.identity.key)
        // The same key signs the same way: it is the same identity, not only the same name.
        #expect(again.identity.sign([1, 2, 3]) == first.identity.sign([1, 2, 3]))
    }

    @Test("processes started at once with one path agree on one identity")
    func concurrentCreation() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/shared.id"
        let found = Found()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            found.add((try? IdentityFile.loadOrCreate(at: path).identity.key.description) ?? "error")
        }
        let all = found.keys
        #expect(all.count == 8 && Set(all).count == 1 && !all.contains("error"), "\(all)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["shared.id"])
    }

    @Test("a held identity file cannot be held again while its holder runs")
    func held() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/held.id"
        _ = try IdentityFile.loadOrCreate(at: path)
        try IdentityFile.holdForThisProcess(path)
        #expect(throws: IdentityFileError.inUse(path: path)) { try IdentityFile.holdForThisProcess(path) }
        #expect("\(IdentityFileError.inUse(path: path))".contains("its own --identity"))
    }

    @Test("bad files and paths are clear, typed errors, and nothing is overwritten")
    func refusals() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: IdentityFileError.folderMissing(path: dir + "/nope/bot.id")) { try IdentityFile.loadOrCreate(at: dir + "/nope/bot.id") }

        let open = dir + "/open.id"
        _ = try IdentityFile.loadOrCreate(at: open)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: open)
        #expect(throws: IdentityFileError.tooOpen(path: open, mode: 0o644)) { try IdentityFile.loadOrCreate(at: open) }

        let junk = dir + "/junk.id"
        FileManager.default.createFile(atPath: junk, contents: Data("not a key\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect {
            try IdentityFile.loadOrCreate(at: junk)
        } throws: { error in
            guard case .malformed = error as? IdentityFileError else { return false }
            return "\(error)".contains("move it away")
        }
        #expect(FileManager.default.contents(atPath: junk) == Data("not a key\n".utf8))
    }
}

/// Keys found by concurrent callers.
final class Found: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ key: String) { lock.withLock { list.append(key) } }
    var keys: [String] { lock.withLock { list } }
}
