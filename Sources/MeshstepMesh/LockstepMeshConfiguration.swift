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
    ///   - spectatorLinks: extra room per player for spectators attaching directly.
    public static func lockstep(players: Int, spectatorLinks: Int = 0) -> MeshConfiguration {
        var c = MeshConfiguration()
        c.idealNeighbors = min(62, max(1, players - 1) + spectatorLinks)
        c.minNeighbors = max(1, min(2, players - 1))
        c.maxNeighbors = min(64, c.idealNeighbors + 2)
        c.minEagerLinks = 64
        c.hopLimit = spectatorLinks > 0 ? 16 : 2
        c.keepaliveInterval = .milliseconds(500)
        c.propagationFilter = { _ in .local }
        return c
    }
}
