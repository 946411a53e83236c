import MeshstepLockstep

/// A deterministic bot for ``TankArena``: it dodges shells that would hit it, hunts the nearest
/// enemy, leads its aim and fires when the gun lines up, and slides around pillars that block
/// its line of fire.
///
/// The input depends only on the game state, the slot and the tick, so any peer (or a test)
/// computes the same input from the same state.
public enum TankBot {
    /// How many ticks ahead a bot sees a shell coming (smaller: easier bots).
    public static let reactionTicks = 22

    /// The bot's controls for `slot` in the state `game` (about to apply `tick`).
    /// - Parameters:
    ///   - slot: the tank the bot drives.
    ///   - game: the state the input answers.
    ///   - tick: the tick about to be applied (some moves change with it, so the bots do not repeat one pattern).
    ///   - dodging: false gives an easier bot that never swerves from incoming shells.
    public static func input(for slot: Int, in game: TankArena, tick: Int, dodge dodging: Bool = true) -> TankInput {
        guard slot >= 0, slot < game.tanks.count, game.tanks[slot].alive, game.roundActive else { return .neutral }
        let me = game.tanks[slot]
        let heading = TankArena.direction(me.angle)
        var input = TankInput()

        // 1. The nearest living enemy (lowest slot on ties).
        var target: Int?
        var best = Fixed(raw: .max)
        for s in game.tanks.indices where s != slot && game.tanks[s].alive {
            let dx = game.tanks[s].x - me.x, dy = game.tanks[s].y - me.y
            let d2 = dx * dx + dy * dy
            if d2 < best { best = d2; target = s }
        }

        // 2. Aim: turn toward where the target will be when the shell arrives, fire when lined up.
        var blocked = false
        var distance = Fixed.zero
        if let target {
            let t = game.tanks[target]
            let dx = t.x - me.x, dy = t.y - me.y
            distance = (dx * dx + dy * dy).squareRoot
            let flight = distance / TankArena.bulletSpeed
            let v = game.velocity(of: target)
            // Lead by a fraction that depends on the slot, so bots do not all aim alike.
            let lead = Fixed(2 + slot % 3, 4)
            let ax = dx + v.x * flight * lead, ay = dy + v.y * flight * lead
            let aimDistance = (ax * ax + ay * ay).squareRoot
            let cross = heading.x * ay - heading.y * ax
            let dot = heading.x * ax + heading.y * ay
            let tolerance = aimDistance * Fixed(3, 100)
            if dot < .zero {
                if cross >= .zero { input.right = true } else { input.left = true }
            } else if cross > tolerance {
                input.right = true
            } else if cross < -tolerance {
                input.left = true
            }
            blocked = lineBlocked(me.x, me.y, t.x, t.y)
            let inRange = distance < TankArena.bulletSpeed * (TankArena.bulletTicks * 3 / 4)
            if dot > .zero, cross.magnitude < aimDistance * Fixed(8, 100), inRange, !blocked {
                input.fire = true
            }

            // 3. Move: keep a preferred distance; go around a pillar that blocks the shot.
            let preferred = Fixed(50 + 6 * (slot % 4))
            let facing = dot > aimDistance / 2
            if blocked {
                // Steer sideways around the obstacle. The lower slot of a pair goes one way
                // and the higher the other, so both move the same way in the world and meet
                // instead of circling the pillar forever; every 5 s both switch sides.
                let flip = (tick / 300) % 2 == 0
                let side: Fixed = (slot < target) == flip ? 1 : -1
                let wx = -dy * side, wy = dx * side
                let c = heading.x * wy - heading.y * wx
                input.left = c < .zero
                input.right = c > .zero
                input.thrust = true
                input.fire = false
            } else if distance > preferred + 10, facing {
                input.thrust = true
            } else if distance < preferred - 20 {
                input.reverse = true
            } else if (tick / 120 + slot) % 3 == 0, facing {
                // Now and then, circle-strafe while firing.
                input.thrust = true
            }
        }

        // 4. Dodge: the shell that gets closest soonest overrides movement (not aim).
        var soonest = Fixed(raw: .max)
        var dodge: (x: Fixed, y: Fixed)?
        let danger = TankArena.tankRadius + 3
        for b in game.bullets where dodging && b.owner != slot {
            let px = me.x - b.x, py = me.y - b.y
            let vv = b.dx * b.dx + b.dy * b.dy
            guard vv > .zero else { continue }
            let t = (px * b.dx + py * b.dy) / vv
            guard t > .zero, t < Fixed(TankBot.reactionTicks), t < Fixed(b.ttl) else { continue }
            let cx = px - b.dx * t, cy = py - b.dy * t
            guard cx * cx + cy * cy < danger * danger, t < soonest else { continue }
            soonest = t
            // Away from the shell's line; dead centre: a side chosen by the slot.
            let away = cx == .zero && cy == .zero ? (slot % 2 == 0 ? (-b.dy, b.dx) : (b.dy, -b.dx)) : (cx, cy)
            dodge = away
        }
        if let dodge {
            // Tanks cannot strafe: drive (forward or backward, whichever is closer) while
            // turning toward the escape direction, which is across the shell's path.
            let along = heading.x * dodge.x + heading.y * dodge.y
            let across = heading.x * dodge.y - heading.y * dodge.x
            input.thrust = along >= .zero
            input.reverse = along < .zero
            let turnRight = along >= .zero ? across > .zero : across < .zero
            input.right = turnRight
            input.left = !turnRight
        }

        if target == nil {
            // Nobody to hunt: idle toward the centre.
            let dx = TankArena.width / 2 - me.x, dy = TankArena.height / 2 - me.y
            let c = heading.x * dy - heading.y * dx
            if dodge == nil, dx * dx + dy * dy > Fixed(400) {
                input.left = c < .zero
                input.right = c > .zero
                input.thrust = heading.x * dx + heading.y * dy > .zero
            }
        }
        return input
    }

    /// True when a pillar lies on the segment between two points (sampled every 3 units).
    public static func lineBlocked(_ x0: Fixed, _ y0: Fixed, _ x1: Fixed, _ y1: Fixed) -> Bool {
        let dx = x1 - x0, dy = y1 - y0
        let length = (dx * dx + dy * dy).squareRoot
        let steps = max(1, (length / 3).floor)
        for i in 1..<max(2, steps) {
            let f = Fixed(i, steps)
            if TankArena.blocked(x0 + dx * f, y0 + dy * f) { return true }
        }
        return false
    }
}
