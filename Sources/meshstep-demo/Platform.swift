import CSDL2
import Foundation

/// Errors that end the demo with a message and an exit code.
enum DemoError: Error, CustomStringConvertible {
    /// SDL could not open a window (no display, no driver).
    case noDisplay(String)
    case sdl(String)
    case asset(AssetError)
    case replay(String)
    case network(String)

    var description: String {
        switch self {
        case let .noDisplay(reason):
            "cannot open a window: \(reason)\n"
                + "No display available? Run without a window: meshstep-demo --headless --ticks 600 --screenshot shot.bmp"
        case let .sdl(reason): "SDL error: \(reason)"
        case let .network(reason): "network: \(reason)"
        case let .asset(e): e.description
        case let .replay(reason): reason
        }
    }
}

/// The current SDL error text.
func sdlError() -> String { String(cString: SDL_GetError()) }

/// An RGB colour.
struct RGB: Equatable, Sendable {
    var r: UInt8, g: UInt8, b: UInt8
    init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    func scaled(_ percent: Int) -> RGB {
        func s(_ v: UInt8) -> UInt8 { UInt8(min(255, Int(v) * percent / 100)) }
        return RGB(s(r), s(g), s(b))
    }
}

/// Where the demo draws: a window (hardware or software renderer) or, headless, an SDL
/// software renderer drawing into an in-memory surface that can be saved as a BMP.
final class Screen {
    static let width: Int32 = 960
    static let height: Int32 = 736

    let renderer: OpaquePointer
    private let window: OpaquePointer?
    private let surface: UnsafeMutablePointer<SDL_Surface>?

    /// Opens a window, or throws ``DemoError/noDisplay(_:)``.
    init(windowTitle: String) throws(DemoError) {
        if SDL_InitSubSystem(shim_SDL_INIT_VIDEO()) != 0 { throw .noDisplay(sdlError()) }
        // With no X11 or Wayland display SDL falls back to its off-screen driver, which
        // "opens" an invisible window: that is no display for a player (unless asked for).
        let driver = SDL_GetCurrentVideoDriver().map { String(cString: $0) } ?? "none"
        if ["offscreen", "dummy"].contains(driver), ProcessInfo.processInfo.environment["SDL_VIDEODRIVER"] == nil {
            SDL_QuitSubSystem(shim_SDL_INIT_VIDEO())
            throw .noDisplay("no X11 or Wayland display found (DISPLAY and WAYLAND_DISPLAY are not set; SDL only found its \(driver) driver)")
        }
        SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "0")
        let flags = SDL_WINDOW_RESIZABLE.rawValue | SDL_WINDOW_ALLOW_HIGHDPI.rawValue
        guard
            let window = SDL_CreateWindow(
                windowTitle, Int32(shim_SDL_WINDOWPOS_CENTERED()), Int32(shim_SDL_WINDOWPOS_CENTERED()), Self.width, Self.height, flags)
        else {
            throw .noDisplay(sdlError())
        }
        let renderer =
            SDL_CreateRenderer(window, -1, SDL_RENDERER_ACCELERATED.rawValue | SDL_RENDERER_PRESENTVSYNC.rawValue)
            ?? SDL_CreateRenderer(window, -1, SDL_RENDERER_SOFTWARE.rawValue)
        guard let renderer else {
            SDL_DestroyWindow(window)
            throw .sdl("cannot create a renderer: \(sdlError())")
        }
        SDL_RenderSetLogicalSize(renderer, Self.width, Self.height)
        self.window = window
        self.renderer = renderer
        surface = nil
        SDL_SetRenderDrawBlendMode(renderer, SDL_BLENDMODE_BLEND)
    }

    /// A software renderer on an in-memory surface (no display needed).
    init(headless: Void) throws(DemoError) {
        // The dummy video driver needs no display; SDL is initialised for its timers and
        // event queue only.
        if SDL_InitSubSystem(shim_SDL_INIT_VIDEO()) != 0 { throw .sdl("cannot initialise SDL video (dummy driver): \(sdlError())") }
        guard let surface = SDL_CreateRGBSurfaceWithFormat(0, Self.width, Self.height, 32, SDL_PIXELFORMAT_XRGB8888.rawValue) else {
            throw .sdl("cannot create the off-screen surface: \(sdlError())")
        }
        guard let renderer = SDL_CreateSoftwareRenderer(surface) else {
            SDL_FreeSurface(surface)
            throw .sdl("cannot create the software renderer: \(sdlError())")
        }
        self.surface = surface
        self.renderer = renderer
        window = nil
        SDL_SetRenderDrawBlendMode(renderer, SDL_BLENDMODE_BLEND)
    }

    var isHeadless: Bool { window == nil }

    func present() { SDL_RenderPresent(renderer) }

    /// Writes what was drawn as a BMP (headless), or reads the window back (windowed).
    func saveScreenshot(to path: String) throws(DemoError) {
        if let surface {
            if shim_SDL_SaveBMP(surface, path) != 0 { throw .sdl("cannot write \(path): \(sdlError())") }
            return
        }
        guard let shot = SDL_CreateRGBSurfaceWithFormat(0, Self.width, Self.height, 32, SDL_PIXELFORMAT_XRGB8888.rawValue) else { throw .sdl(sdlError()) }
        defer { SDL_FreeSurface(shot) }
        if SDL_RenderReadPixels(renderer, nil, SDL_PIXELFORMAT_XRGB8888.rawValue, shot.pointee.pixels, shot.pointee.pitch) != 0 { throw .sdl(sdlError()) }
        if shim_SDL_SaveBMP(shot, path) != 0 { throw .sdl("cannot write \(path): \(sdlError())") }
    }

    deinit {
        SDL_DestroyRenderer(renderer)
        if let window { SDL_DestroyWindow(window) }
        if let surface { SDL_FreeSurface(surface) }
    }

    // MARK: Drawing primitives

    func color(_ c: RGB, _ alpha: UInt8 = 255) { SDL_SetRenderDrawColor(renderer, c.r, c.g, c.b, alpha) }

    func fill(_ x: Int, _ y: Int, _ w: Int, _ h: Int, _ c: RGB, alpha: UInt8 = 255) {
        color(c, alpha)
        var r = SDL_Rect(x: Int32(x), y: Int32(y), w: Int32(w), h: Int32(h))
        SDL_RenderFillRect(renderer, &r)
    }

    func outline(_ x: Int, _ y: Int, _ w: Int, _ h: Int, _ c: RGB, thickness: Int = 1) {
        fill(x, y, w, thickness, c)
        fill(x, y + h - thickness, w, thickness, c)
        fill(x, y, thickness, h, c)
        fill(x + w - thickness, y, thickness, h, c)
    }

    func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: RGB) {
        color(c)
        SDL_RenderDrawLine(renderer, Int32(x0), Int32(y0), Int32(x1), Int32(y1))
    }
}
