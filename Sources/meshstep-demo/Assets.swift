import CSDL2
import Foundation

/// A missing or unusable asset, naming the file and what to do about it.
enum AssetError: Error, CustomStringConvertible {
    case directoryNotFound(searched: [String])
    case missing(file: String)
    case unreadable(file: String, reason: String)
    case wrongFormat(file: String, expected: String, found: String)

    static let fix = "Regenerate the assets with `python3 Assets/generate.py` (from the repository root), or point --assets at a folder that has them."

    var description: String {
        switch self {
        case let .directoryNotFound(searched):
            "cannot find the demo assets (font.bmp, sprites, sounds); looked in: \(searched.joined(separator: ", ")). Run from the repository root or pass --assets DIR."
        case let .missing(file): "asset missing: \(file). \(Self.fix)"
        case let .unreadable(file, reason): "asset \(file) is corrupt or unreadable (\(reason)). \(Self.fix)"
        case let .wrongFormat(file, expected, found): "asset \(file) has the wrong format: expected \(expected), found \(found). \(Self.fix)"
        }
    }
}

/// An SDL texture with its size.
final class Texture {
    let handle: OpaquePointer
    let width: Int
    let height: Int

    init(handle: OpaquePointer, width: Int, height: Int) {
        self.handle = handle
        self.width = width
        self.height = height
    }

    deinit { SDL_DestroyTexture(handle) }
}

/// A sound effect: mono signed 16-bit samples at ``Sound/rate``.
struct Sound: Sendable {
    static let rate: Int32 = 22050
    var samples: [Int16]
}

/// Everything the client loads from the assets folder.
final class Assets {
    static let required = [
        "font.bmp", "tank0.bmp", "tank1.bmp", "tank2.bmp", "tank3.bmp", "bullet.bmp", "explosion.bmp", "shoot.wav", "hit.wav", "explode.wav", "round.wav",
    ]

    let font: Texture
    let tanks: [Texture]
    let bullet: Texture
    let explosion: Texture
    let explosionFrames = 6
    let shoot: Sound, hit: Sound, explode: Sound, roundOver: Sound

    /// The assets folder: `--assets`, else `Assets` in the working directory, else next to (or
    /// above) the executable, as in `.build/debug/meshstep-demo` inside the repository.
    static func locate(_ explicit: String?) throws(AssetError) -> String {
        if let explicit { return explicit }
        var candidates = [FileManager.default.currentDirectoryPath + "/Assets"]
        if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            var dir = exe.deletingLastPathComponent()
            for _ in 0..<5 {
                candidates.append(dir.appendingPathComponent("Assets").path)
                dir = dir.deletingLastPathComponent()
            }
        }
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0 + "/font.bmp") }) { return found }
        throw .directoryNotFound(searched: candidates)
    }

    init(directory: String, renderer: OpaquePointer) throws(AssetError) {
        func path(_ name: String) throws(AssetError) -> String {
            let p = (directory as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: p) else { throw .missing(file: p) }
            return p
        }
        func texture(_ name: String, width: Int, height: Int, colorKey: (UInt8, UInt8, UInt8)?) throws(AssetError) -> Texture {
            let p = try path(name)
            guard let surface = shim_SDL_LoadBMP(p) else { throw .unreadable(file: p, reason: sdlError()) }
            defer { SDL_FreeSurface(surface) }
            let w = Int(surface.pointee.w), h = Int(surface.pointee.h)
            guard w == width, h == height else { throw .wrongFormat(file: p, expected: "\(width)x\(height) pixels", found: "\(w)x\(h)") }
            if let key = colorKey { SDL_SetColorKey(surface, 1, SDL_MapRGB(surface.pointee.format, key.0, key.1, key.2)) }
            guard let t = SDL_CreateTextureFromSurface(renderer, surface) else { throw .unreadable(file: p, reason: sdlError()) }
            SDL_SetTextureBlendMode(t, SDL_BLENDMODE_BLEND)
            return Texture(handle: t, width: w, height: h)
        }
        func sound(_ name: String) throws(AssetError) -> Sound {
            let p = try path(name)
            var spec = SDL_AudioSpec()
            var buffer: UnsafeMutablePointer<UInt8>?
            var length: UInt32 = 0
            guard shim_SDL_LoadWAV(p, &spec, &buffer, &length) != nil, let buffer else { throw .unreadable(file: p, reason: sdlError()) }
            defer { SDL_FreeWAV(buffer) }
            guard spec.format == shim_AUDIO_S16SYS(), spec.channels == 1, spec.freq == Sound.rate else {
                throw .wrongFormat(
                    file: p, expected: "mono 16-bit PCM at \(Sound.rate) Hz",
                    found: "\(spec.channels) channel(s), format 0x\(String(spec.format, radix: 16)), \(spec.freq) Hz")
            }
            let count = Int(length) / 2
            let samples = buffer.withMemoryRebound(to: Int16.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
            return Sound(samples: samples)
        }
        font = try texture("font.bmp", width: 128, height: 48, colorKey: (0, 0, 0))
        var tanks: [Texture] = []
        for i in 0..<4 { tanks.append(try texture("tank\(i).bmp", width: 40, height: 40, colorKey: (255, 0, 255))) }
        self.tanks = tanks
        bullet = try texture("bullet.bmp", width: 8, height: 8, colorKey: (255, 0, 255))
        explosion = try texture("explosion.bmp", width: 288, height: 48, colorKey: (255, 0, 255))
        shoot = try sound("shoot.wav")
        hit = try sound("hit.wav")
        explode = try sound("explode.wav")
        roundOver = try sound("round.wav")
    }
}
