import Foundation

/// Checks a path a program will write at the end of a run (a recording, a screenshot, a report),
/// so a bad path is refused before the run starts instead of losing its result.
public enum OutputFile {
    /// Why a file cannot be written at `path` (its folder is missing or not writable, or the path
    /// is a folder), with the fix; nil when it can. `example` names a file for the folder case.
    public static func problem(at path: String, example: String = "match.replay") -> String? {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return "\(path) is a folder: give a file path, e.g. \(url.appendingPathComponent(example).path)"
        }
        let folder = url.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            return "\(path): the folder \(folder) does not exist; create it first (mkdir -p \(folder)) or choose another path"
        }
        guard FileManager.default.isWritableFile(atPath: folder) else {
            return "\(path): cannot write in \(folder) (permission denied); choose another folder"
        }
        return nil
    }
}
