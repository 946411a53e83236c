import CSDL2
import MeshstepArena
import MeshstepLockstep

/// Screen layout: a score bar on top, the arena (world units × 4), the network HUD strip below.
enum Layout {
    static let barHeight = 40
    static let arenaX = 0, arenaY = 40
    static let arenaWidth = 960, arenaHeight = 600
    static let hudY = 640, hudHeight = 96
    static let scale = TankArena.pixelsPerUnit

    static func screen(_ x: Fixed, _ y: Fixed) -> (x: Int, y: Int) {
        // Display only: world units to pixels.
        (arenaX + (x * scale).rounded, arenaY + (y * scale).rounded)
    }
}

/// The player colours, by slot.
let palette: [RGB] = [
    RGB(255, 84, 84), RGB(80, 190, 255), RGB(120, 230, 80), RGB(255, 214, 60),
    RGB(214, 110, 255), RGB(255, 150, 40), RGB(60, 236, 200), RGB(255, 120, 200),
]

enum Theme {
    static let background = RGB(20, 23, 33)
    static let floor = RGB(27, 31, 45)
    static let grid = RGB(35, 40, 58)
    static let border = RGB(110, 122, 165)
    static let pillar = RGB(62, 68, 92)
    static let pillarTop = RGB(96, 106, 140)
    static let panel = RGB(14, 16, 24)
    static let text = RGB(225, 228, 240)
    static let dim = RGB(130, 136, 160)
    static let good = RGB(120, 230, 120)
    static let warn = RGB(255, 190, 70)
    static let bad = RGB(255, 90, 90)
}

/// What the HUD shows besides the game state.
struct HUDModel {
    var showNetwork = true
    var showScoreboard = false
    var showKeys = false
    var localSlot: Int?
    var transportKind = "local"
    var inputDelay = 0
    var stats: [PeerStatsView] = []
    /// Recent input latencies in milliseconds, oldest first.
    var latency: [Double] = []
    /// Frames in a row without a confirmed tick (waiting for a peer).
    var waitingFrames = 0
    /// Confirmed ticks buffered ahead of the local clock.
    var buffered = 0
    /// On-screen messages with their age in frames.
    var messages: [(text: String, age: Int)] = []
    var footer: String?
    /// Why the session stopped for good: shown instead of "waiting for players".
    var halted: String?
    /// A line shown at the bottom of the arena (the replay verdict), with its colour.
    var notice: (text: String, color: RGB)?
    /// How the local slot is labelled ("YOU"; "BOT 1" when a bot plays it headless).
    var localName = "YOU"

    func name(_ slot: Int) -> String {
        if slot == localSlot { return localName }
        return stats.first { $0.slot == slot }?.name ?? "P\(slot + 1)"
    }
}

/// Draws the game with the bitmap font and sprites.
final class Renderer {
    let screen: Screen
    let assets: Assets

    init(screen: Screen, assets: Assets) {
        self.screen = screen
        self.assets = assets
    }

    // MARK: Text

    /// Draws ASCII text (other characters show as `?`) and returns its width in pixels.
    @discardableResult
    func text(_ s: String, x: Int, y: Int, scale: Int = 2, color: RGB = Theme.text, shadow: Bool = true) -> Int {
        if shadow { _ = drawGlyphs(s, x: x + scale, y: y + scale, scale: scale, color: RGB(0, 0, 0)) }
        return drawGlyphs(s, x: x, y: y, scale: scale, color: color)
    }

    static func textWidth(_ s: String, scale: Int) -> Int { max(0, s.utf8.count * 6 * scale - scale) }

    private func drawGlyphs(_ s: String, x: Int, y: Int, scale: Int, color: RGB) -> Int {
        SDL_SetTextureColorMod(assets.font.handle, color.r, color.g, color.b)
        var cx = x
        for byte in s.utf8 {
            let code = (32...126).contains(byte) ? Int(byte) : 63
            if code != 32 {
                let i = code - 32
                var src = SDL_Rect(x: Int32(i % 16 * 8), y: Int32(i / 16 * 8), w: 5, h: 7)
                var dst = SDL_Rect(x: Int32(cx), y: Int32(y), w: Int32(5 * scale), h: Int32(7 * scale))
                SDL_RenderCopy(screen.renderer, assets.font.handle, &src, &dst)
            }
            cx += 6 * scale
        }
        return cx - x - scale
    }

    func centered(_ s: String, y: Int, scale: Int, color: RGB = Theme.text, centerX: Int = Layout.arenaWidth / 2) {
        text(s, x: centerX - Self.textWidth(s, scale: scale) / 2, y: y, scale: scale, color: color)
    }

    // MARK: Frame

    func draw(_ game: TankArena, hud: HUDModel) {
        screen.fill(0, 0, Int(Screen.width), Int(Screen.height), Theme.background)
        drawArena(game)
        drawBanner(game, hud: hud)
        drawMessages(hud)
        drawExplosions(game)
        drawBullets(game)
        drawTanks(game, hud: hud)
        drawScoreBar(game, hud: hud)
        drawHUD(game, hud: hud)
        if hud.showScoreboard { drawScoreboard(game, hud: hud) }
        if hud.showKeys { drawKeys() }
    }

    private func drawArena(_ game: TankArena) {
        screen.fill(Layout.arenaX, Layout.arenaY, Layout.arenaWidth, Layout.arenaHeight, Theme.floor)
        for gx in stride(from: 40, to: Layout.arenaWidth, by: 40) {
            screen.fill(Layout.arenaX + gx, Layout.arenaY, 1, Layout.arenaHeight, Theme.grid)
        }
        for gy in stride(from: 40, to: Layout.arenaHeight, by: 40) {
            screen.fill(Layout.arenaX, Layout.arenaY + gy, Layout.arenaWidth, 1, Theme.grid)
        }
        screen.outline(Layout.arenaX, Layout.arenaY, Layout.arenaWidth, Layout.arenaHeight, Theme.border, thickness: 3)
        for p in TankArena.pillars {
            let (x, y) = Layout.screen(p.x - p.half, p.y - p.half)
            let side = (p.half * 2 * Layout.scale).rounded
            screen.fill(x + 4, y + 4, side, side, RGB(10, 12, 18), alpha: 160)
            screen.fill(x, y, side, side, Theme.pillar)
            screen.fill(x + 4, y + 4, side - 8, side - 8, Theme.pillarTop)
            screen.outline(x, y, side, side, Theme.border)
        }
    }

    private func drawBanner(_ game: TankArena, hud: HUDModel) {
        let y = Layout.arenaY + 110
        if !game.roundActive {
            let headline = game.lastWinner >= 0 ? "\(hud.name(game.lastWinner)) WINS ROUND \(game.round)" : "ROUND \(game.round): DRAW"
            let color = game.lastWinner >= 0 ? palette[game.lastWinner % palette.count] : Theme.text
            centered(headline, y: y, scale: 4, color: color)
            centered("next round in \((game.intermission + 59) / 60)", y: y + 44, scale: 2, color: Theme.dim)
        } else if TankArena.roundTicks - game.roundTicksLeft < 90 {
            centered("ROUND \(game.round)", y: y, scale: 4)
            centered("FIGHT!", y: y + 44, scale: 3, color: Theme.warn)
        }
    }

    private func drawMessages(_ hud: HUDModel) {
        var y = Layout.arenaY + 10
        for m in hud.messages.suffix(5) {
            let fade = m.age > 240 ? max(0, 100 - (m.age - 240)) : 100
            text(m.text, x: 12, y: y, scale: 1, color: Theme.text.scaled(fade))
            y += 11
        }
        if let notice = hud.notice {
            centered(notice.text, y: Layout.arenaY + Layout.arenaHeight - 40, scale: 2, color: notice.color)
        } else if let halted = hud.halted {
            centered("HALTED", y: Layout.arenaY + Layout.arenaHeight - 56, scale: 2, color: Theme.bad)
            centered(halted, y: Layout.arenaY + Layout.arenaHeight - 32, scale: 1, color: Theme.bad)
        } else if hud.waitingFrames > 30 {
            centered("waiting for players... (\(hud.waitingFrames / 60) s)", y: Layout.arenaY + Layout.arenaHeight - 40, scale: 2, color: Theme.warn)
        }
    }

    private func drawExplosions(_ game: TankArena) {
        for e in game.explosions {
            let frame = min(assets.explosionFrames - 1, e.age * assets.explosionFrames / TankArena.explosionTicks)
            let size = e.big ? 72 : 32
            let (x, y) = Layout.screen(e.x, e.y)
            var src = SDL_Rect(x: Int32(frame * 48), y: 0, w: 48, h: 48)
            var dst = SDL_Rect(x: Int32(x - size / 2), y: Int32(y - size / 2), w: Int32(size), h: Int32(size))
            SDL_RenderCopy(screen.renderer, assets.explosion.handle, &src, &dst)
        }
    }

    private func drawBullets(_ game: TankArena) {
        for b in game.bullets {
            let c = palette[b.owner % palette.count]
            let (x, y) = Layout.screen(b.x, b.y)
            // A short trail, then the shell in its owner's colour.
            let (tx, ty) = Layout.screen(b.x - b.dx * 2, b.y - b.dy * 2)
            screen.line(tx, ty, x, y, c.scaled(60))
            SDL_SetTextureColorMod(assets.bullet.handle, c.r, c.g, c.b)
            var dst = SDL_Rect(x: Int32(x - 5), y: Int32(y - 5), w: 10, h: 10)
            SDL_RenderCopy(screen.renderer, assets.bullet.handle, nil, &dst)
        }
    }

    private func drawTanks(_ game: TankArena, hud: HUDModel) {
        for (slot, t) in game.tanks.enumerated() where t.alive {
            let c = palette[slot % palette.count]
            let (x, y) = Layout.screen(t.x, t.y)
            let sprite = assets.tanks[slot % assets.tanks.count]
            SDL_SetTextureColorMod(sprite.handle, c.r, c.g, c.b)
            var dst = SDL_Rect(x: Int32(x - 20), y: Int32(y - 20), w: 40, h: 40)
            // A tank against the wall: its turned sprite's corners stay inside the arena, not over
            // the wall (the wall is 3 px thick, drawn inside the arena's outline).
            var inside = SDL_Rect(
                x: Int32(Layout.arenaX + 3), y: Int32(Layout.arenaY + 3),
                w: Int32(Layout.arenaWidth - 6), h: Int32(Layout.arenaHeight - 6))
            SDL_RenderSetClipRect(screen.renderer, &inside)
            // Display only: the heading in degrees, clockwise like the world's y-down angle.
            SDL_RenderCopyEx(screen.renderer, sprite.handle, nil, &dst, t.angle.double * 360, nil, SDL_FLIP_NONE)
            SDL_RenderSetClipRect(screen.renderer, nil)
            // Name tag and health pips.
            let name = hud.name(slot)
            text(name, x: x - Self.textWidth(name, scale: 1) / 2, y: y - 34, scale: 1, color: c)
            let pips = TankArena.maxHealth
            let left = x - (pips * 6 - 2) / 2
            for i in 0..<pips {
                screen.fill(left + i * 6, y + 25, 4, 3, i < t.health ? c : RGB(60, 60, 70))
            }
            if slot == hud.localSlot {
                screen.outline(x - 24, y - 24, 48, 48, c.scaled(50))
            }
        }
    }

    private func drawScoreBar(_ game: TankArena, hud: HUDModel) {
        screen.fill(0, 0, Int(Screen.width), Layout.barHeight, Theme.panel)
        screen.fill(0, Layout.barHeight - 1, Int(Screen.width), 1, Theme.border.scaled(60))
        text("MESHSTEP", x: 12, y: 6, scale: 2, color: Theme.text)
        text("ARENA", x: 12, y: 24, scale: 1, color: Theme.dim)
        var x = 130
        for (slot, t) in game.tanks.enumerated() {
            let c = palette[slot % palette.count]
            let shade = t.alive ? 100 : 35
            screen.fill(x, 12, 14, 14, c.scaled(shade))
            if slot == hud.localSlot { screen.outline(x - 2, 10, 18, 18, Theme.text) }
            let w = text("\(t.score)", x: x + 20, y: 12, scale: 2, color: t.connected ? Theme.text.scaled(t.alive ? 100 : 55) : Theme.bad)
            x += max(60, w + 34)
        }
        let seconds = (game.roundTicksLeft + 59) / 60
        let clock = game.roundActive ? "ROUND \(game.round)  \(seconds / 60):\(seconds % 60 < 10 ? "0" : "")\(seconds % 60)" : "ROUND \(game.round) OVER"
        text(clock, x: Int(Screen.width) - 12 - Self.textWidth(clock, scale: 2), y: 12, scale: 2)
    }

    private func drawHUD(_ game: TankArena, hud: HUDModel) {
        let top = Layout.hudY
        screen.fill(0, top, Int(Screen.width), Layout.hudHeight, Theme.panel)
        screen.fill(0, top, Int(Screen.width), 1, Theme.border.scaled(60))
        guard hud.showNetwork else {
            text(hud.footer ?? "H: network HUD   TAB: scoreboard   ESC: quit", x: 12, y: top + 40, scale: 2, color: Theme.dim)
            return
        }
        // Left: engine state.
        text("TICK \(game.tick)", x: 12, y: top + 8, scale: 2)
        text("delay \(hud.inputDelay) (\(hud.inputDelay * 1000 / 60) ms)", x: 12, y: top + 30, scale: 1, color: Theme.dim)
        text("buffer \(hud.buffered) ticks", x: 12, y: top + 42, scale: 1, color: Theme.dim)
        text("transport: \(hud.transportKind)", x: 12, y: top + 54, scale: 1, color: Theme.dim)
        let status = hud.transportKind == "replay" ? ("REPLAY", Theme.warn) : hud.waitingFrames > 0 ? ("WAITING", Theme.warn) : ("IN SYNC", Theme.good)
        text(status.0, x: 12, y: top + 70, scale: 2, color: status.1)

        // Middle: one row per peer, two columns.
        for col in 0..<(hud.stats.count > 4 ? 2 : 1) {
            text("PEER      PING   AHEAD   KBPS", x: 200 + col * 240, y: top + 8, scale: 1, color: Theme.dim)
        }
        for (i, p) in hud.stats.enumerated() {
            let col = i / 4, row = i % 4
            let x = 200 + col * 240, y = top + 22 + row * 17
            let c = palette[p.slot % palette.count]
            screen.fill(x, y, 7, 7, p.connected ? c : c.scaled(30))
            let ping = p.isLocal ? "    -" : p.pingMs.map { pad("\(Int($0.rounded()))", 3) + "ms" } ?? "    ?"
            let ahead = p.isLocal ? "  -" : pad((p.ticksAhead > 0 ? "+" : "") + "\(p.ticksAhead)", 3)
            let kbps = p.isLocal ? "   -" : pad(String(format1(p.kbpsIn)), 4)
            text("\(pad(hud.name(p.slot), 7, left: true)) \(ping)   \(ahead)   \(kbps)", x: x + 12, y: y, scale: 1, color: p.connected ? Theme.text : Theme.bad)
        }

        // Right: input latency graph (last two seconds).
        let gx = 680, gy = top + 26, gw = 264, gh = 58
        let current = hud.latency.last ?? 0
        text("INPUT LATENCY \(Int(current.rounded())) ms", x: gx, y: top + 8, scale: 1, color: Theme.dim)
        screen.fill(gx, gy, gw, gh, RGB(8, 9, 14))
        screen.outline(gx, gy, gw, gh, Theme.border.scaled(50))
        let ceiling = max(100.0, (hud.latency.max() ?? 0) * 1.25)
        // Gridlines every 50 ms.
        var level = 50.0
        while level < ceiling {
            let ly = gy + gh - 1 - Int(level / ceiling * Double(gh - 2))
            screen.fill(gx + 1, ly, gw - 2, 1, RGB(30, 34, 48))
            level += 50
        }
        // An area chart: dim fill, bright top edge, coloured by how bad the latency is.
        let samples = Array(hud.latency.suffix(gw - 4))
        for (i, v) in samples.enumerated() {
            let h = max(1, Int(v / ceiling * Double(gh - 4)))
            let c = v < 80 ? Theme.good : v < 150 ? Theme.warn : Theme.bad
            screen.fill(gx + 2 + i, gy + gh - 2 - h, 1, h, c.scaled(30))
            screen.fill(gx + 2 + i, gy + gh - 2 - h, 1, 2, c)
        }
        text("\(Int(ceiling)) ms", x: gx + gw - 40, y: gy + 3, scale: 1, color: Theme.dim, shadow: false)
    }

    private func drawScoreboard(_ game: TankArena, hud: HUDModel) {
        let rows = game.tanks.count
        let w = 460, h = 70 + rows * 28
        let x = (Layout.arenaWidth - w) / 2, y = Layout.arenaY + (Layout.arenaHeight - h) / 2
        screen.fill(x, y, w, h, Theme.panel, alpha: 230)
        screen.outline(x, y, w, h, Theme.border, thickness: 2)
        centered("SCOREBOARD - ROUND \(game.round)", y: y + 14, scale: 2)
        let order = game.tanks.indices.sorted { (game.tanks[$0].score, -$0) > (game.tanks[$1].score, -$1) }
        for (i, slot) in order.enumerated() {
            let t = game.tanks[slot], ry = y + 48 + i * 28
            let c = palette[slot % palette.count]
            screen.fill(x + 20, ry, 16, 16, c)
            text(hud.name(slot), x: x + 48, y: ry, scale: 2, color: c)
            text("\(t.score)", x: x + 250, y: ry, scale: 2)
            let state = !t.connected ? ("DROPPED", Theme.bad) : t.alive ? ("ALIVE", Theme.good) : ("DEAD", Theme.dim)
            text(state.0, x: x + 320, y: ry, scale: 2, color: state.1)
        }
    }

    /// The controls, for the first seconds of a match: two lines at the top of the arena,
    /// above every spawn point, so they never hide a tank at the start.
    private func drawKeys() {
        let lines = ["ARROWS/WASD drive   SPACE fire", "H: HUD   TAB: scores   ESC: quit"]
        let w = 420, h = 50
        let x = (Layout.arenaWidth - w) / 2, y = Layout.arenaY + 6
        screen.fill(x, y, w, h, Theme.panel, alpha: 210)
        screen.outline(x, y, w, h, Theme.warn.scaled(70))
        for (i, l) in lines.enumerated() { centered(l, y: y + 8 + i * 20, scale: 2, color: i == 0 ? Theme.warn : Theme.text) }
    }
}

func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return left ? s + fill : fill + s
}

/// One decimal place, without Foundation's locale-dependent formatting.
func format1(_ v: Double) -> String {
    let tenths = Int((v * 10).rounded())
    return "\(tenths / 10).\(abs(tenths % 10))"
}
