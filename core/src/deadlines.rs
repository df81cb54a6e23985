//! Deadlines: every timeout in the core, declared by name.
//!
//! Owns [`SITES`], the list of the core's bounded waits (a connect, a
//! handshake, an idle read, a grace period), each with the sentence that
//! says what it bounds. When a bounded wait runs out, the code that owns it
//! calls [`crate::Emitter::deadline_fired`] with its site, which leaves a
//! `deadline.fired site=<site>` line in the trace. The harness turns the
//! list into coverage: every site must fire in some scenario of its family
//! (a `sometimes` check named `deadline:<site>`), so a regression on a
//! timeout path is exercised, not just compiled. This module never reads
//! a clock; the waits use `tokio::time`, which the simulation drives.
//!
//! A site is the component's prefix (`restream.`, `transcode.`, `ws.`,
//! `pads.`, `publisher.`), then the wait. Adding a timeout to the core means
//! adding its site here and a scenario that reaches it
//! (`catalog_covers_every_deadline` in the scenarios' tests fails until
//! one does).

/// Every bounded wait of the core: `(site, what it bounds)`.
pub const SITES: &[(&str, &str)] = &[
    (
        "restream.twitch.connect",
        "the TCP connect to the Twitch API (6 s)",
    ),
    (
        "restream.twitch.total",
        "one VOD fetch: connect, request and body (12 s)",
    ),
    (
        "restream.twitch.outer",
        "the outer bound around a VOD fetch (15 s)",
    ),
    (
        "restream.pump.connect",
        "an egress pump's connect, RTMP handshake and publish (5 s)",
    ),
    (
        "restream.pump.write-stall",
        "one egress write to a destination (5 s)",
    ),
    (
        "restream.ingest.handshake",
        "the publisher's RTMP handshake at the ingest (5 s)",
    ),
    (
        "restream.ingest.idle",
        "a read from the publisher at the ingest (5 s)",
    ),
    (
        "restream.supervisor.shutdown-grace",
        "a removed destination's pump stopping before it is aborted (1.5 s)",
    ),
    (
        "transcode.ingest.claim",
        "a publisher waiting for the previous session of its broadcast to end (5 s)",
    ),
    (
        "transcode.ingest.first-frame",
        "the first message of a publisher's connection (5 s)",
    ),
    (
        "transcode.ingest.idle",
        "a read between a publisher's frames (5 s)",
    ),
    (
        "pads.session.connect",
        "a MoQ session's connect to the relay (2 s)",
    ),
    (
        "pads.pump.idle",
        "a track subscription's next frame: nothing for 2 s is a lost relay",
    ),
    (
        "pads.src.stop",
        "a stopping source's controller and pumps ending before they are aborted",
    ),
    (
        "ws.server.handshake",
        "the WebSocket handshake of a connection over the cap (refused with 1013)",
    ),
    (
        "ws.server.close-grace",
        "the close handshake of a refused connection",
    ),
    (
        "ws.session.handshake",
        "the WebSocket handshake of an accepted session (5 s)",
    ),
    (
        "ws.session.close-grace",
        "a session's close frame (or the echo of the peer's) going out",
    ),
    (
        "ws.receive.payload",
        "a binary payload after its header (the receive deadline)",
    ),
    ("ws.keepalive.pong", "a pong after the keepalive's ping"),
    (
        "publisher.signal.connect",
        "the publisher's connect to the signal server (RPC timeout)",
    ),
    (
        "publisher.signal.rpc",
        "one signal request and its answer (RPC timeout)",
    ),
    (
        "publisher.signal.leave",
        "the leave request and its answer (leave timeout)",
    ),
    (
        "publisher.stop.leave",
        "the whole leave during stop, queued behind every unpublish (RPC + leave timeout)",
    ),
];

/// Deadlines no scenario can make run out, each with the reason: a
/// backstop behind another bound, or behind a cancellation that always wins
/// first. They stay in [`SITES`] (the code still reports them should they
/// ever fire); `catalog_covers_every_deadline` accepts them without a
/// coverage check, and mutation testing (docs/mutants.md) is what judges
/// them. A site moves out of this list the day a scenario reaches it.
pub const BACKSTOPS: &[(&str, &str)] = &[
    (
        "restream.twitch.outer",
        "the 12 s total bound inside it always runs out first",
    ),
    (
        "restream.supervisor.shutdown-grace",
        "a cancelled pump stops at its next await, which comes at once",
    ),
    (
        "ws.server.close-grace",
        "a refused connection gets two writes (the handshake answer, the close), \
         and no simulated TCP window fills with two: it needs a peer whose window is full",
    ),
];

/// `true` if `site` is declared in [`SITES`].
pub fn is_declared(site: &str) -> bool {
    SITES.iter().any(|(s, _)| *s == site)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_are_unique_and_prefixed_by_their_component() {
        let mut seen = std::collections::BTreeSet::new();
        for (site, about) in SITES {
            assert!(seen.insert(*site), "{site} declared twice");
            assert!(!about.is_empty(), "{site} says what it bounds");
            let component = site.split('.').next().unwrap_or_default();
            assert!(
                ["restream", "transcode", "ws", "pads", "publisher"].contains(&component),
                "{site}: unknown component prefix"
            );
        }
        for (site, why) in BACKSTOPS {
            assert!(is_declared(site), "backstop {site} is declared in SITES");
            assert!(
                !why.is_empty(),
                "backstop {site} says why no run reaches it"
            );
        }
        assert!(is_declared("restream.pump.connect"));
        assert!(!is_declared("restream.pump.nothing"));
    }
}
