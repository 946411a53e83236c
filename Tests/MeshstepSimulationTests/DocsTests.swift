import Foundation
import Testing

/// The code in the guides is code that runs: every Swift block marked as coming from a source
/// file is that file's text (`verbatim`: the whole file; `excerpt`: consecutive lines of it), and
/// those files are built and run by the tests (Examples/TinyGame: `meshstep-example`).
@Suite("docs")
struct DocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct MarkedBlock {
        var doc: String, line: Int, kind: String, source: String, code: String
    }

    /// Swift blocks preceded by `<!-- verbatim: PATH -->` or `<!-- excerpt: PATH -->`.
    static func markedBlocks() throws -> [MarkedBlock] {
        let docs =
            try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.map { "docs/\($0)" } + ["README.md"]
        var blocks: [MarkedBlock] = []
        for doc in docs.sorted() {
            let lines = try String(contentsOf: root.appendingPathComponent(doc), encoding: .utf8).components(separatedBy: "\n")
            var i = 0
            while i < lines.count {
                let line = lines[i].trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("<!-- verbatim: ") || line.hasPrefix("<!-- excerpt: "), line.hasSuffix(" -->"),
                    i + 1 < lines.count, lines[i + 1] == "```swift"
                {
                    let kind = line.hasPrefix("<!-- verbatim") ? "verbatim" : "excerpt"
                    let source = String(line.dropFirst(kind == "verbatim" ? 15 : 14).dropLast(4))
                    guard let end = lines[(i + 2)...].firstIndex(of: "```") else { break }
                    blocks.append(
                        MarkedBlock(
                            doc: doc, line: i + 1, kind: kind, source: source,
                            code: lines[(i + 2)..<end].joined(separator: "\n") + "\n"))
                    i = end
                }
                i += 1
            }
        }
        return blocks
    }

    @Test("every Swift block in the docs marked as taken from a source file is that file's text, line for line")
    func blocksMatchTheirSources() throws {
        let blocks = try Self.markedBlocks()
        // The guides' game loop and complete example are among them.
        #expect(blocks.contains { $0.doc == "docs/LOCKSTEP.md" && $0.kind == "verbatim" && $0.source == "Examples/TinyGame/main.swift" })
        #expect(blocks.contains { $0.doc == "docs/LOCKSTEP.md" && $0.kind == "excerpt" && $0.code.contains("match.advance") })
        for block in blocks {
            let source = try String(contentsOf: Self.root.appendingPathComponent(block.source), encoding: .utf8)
            switch block.kind {
            case "verbatim":
                #expect(block.code == source, "\(block.doc):\(block.line) differs from \(block.source): copy the file into the block")
            default:
                #expect(source.contains(block.code), "\(block.doc):\(block.line) is not a run of consecutive lines of \(block.source)")
            }
        }
    }
}
