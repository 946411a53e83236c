extension MeshConfiguration {
    /// The mesh settings for the players of one lockstep session: every player links directly
    /// to every other and pushes its frames on every link (one hop, the shortest path); players
    /// do not forward each other's frames (no duplicate traffic between them), except to a
    /// player that cannot link to their origin and asks for a relay (PROTOCOL.md §7.10), and
    /// they serve pulls of stored frames, so a
    /// survivor can get a vanished player's last frames from another; keepalives every 500 ms
    /// give the link round trips the fast loss repair uses.
    ///
    /// - Parameters:
    ///   - players: players in the session (2...64).
    ///   - spectatorLinks: room per player for spectators attaching directly (and no more: a
    ///     player's upload grows with every link).
    public static func lockstep(players: Int, spectatorLinks: Int = 0) -> MeshConfiguration {
        var c = MeshConfiguration()
        c.idealNeighbors = min(62, max(1, players - 1) + spectatorLinks)
        c.minNeighbors = max(1, min(2, players - 1))
        // With room for spectators, none beyond it: every link of a player carries its whole
        // frame stream, so each extra spectator link would add a seventh of a 7-player upload.
        // A player's own links still get in when full (they are protected and shed a spectator).
        c.maxNeighbors = min(64, c.idealNeighbors + (spectatorLinks > 0 ? 0 : 2))
        c.minEagerLinks = 64
        c.hopLimit = spectatorLinks > 0 ? 16 : 2
        c.keepaliveInterval = .milliseconds(500)
        c.propagationFilter = { _ in .local }
        return c
    }
}
