//! Fault points (buggify-style): named sites in the core where the harness
//! may inject a failure.
//!
//! Owns the per-thread fault-point table. A site is a `&'static str`
//! (`"restream.pump.write"`); code asks [`crate::Emitter::fault_point`]
//! whether to fail there. Nothing fires unless (1) the `fault-points`
//! feature is compiled in and (2) the harness installed a table on this
//! thread and switched the site on: a simulation runs one seed per OS thread
//! (turmoil runs every host on the calling thread), so the table is per run.
//! Draws come from a seeded [`crate::entropy::SimRng`]; this module never reads an OS source.
//! Without the feature, [`fire`] is a constant `false`.

#[cfg(feature = "fault-points")]
use crate::entropy::SimRng;
#[cfg(feature = "fault-points")]
use std::cell::RefCell;
#[cfg(feature = "fault-points")]
use std::collections::BTreeMap;

/// Every site the core declares, for `relaysim list` and plan generators.
pub const SITES: &[(&str, &str)] = &[
    (
        "restream.pump.write",
        "an egress pump's write to its destination fails",
    ),
    (
        "restream.twitch.response",
        "the Twitch API response is lost after it arrived",
    ),
    (
        "restream.ingest.read",
        "the ingest read of a publisher's frame fails",
    ),
    (
        "transcode.ingest.drop",
        "a frame read from the ingest is lost before the broadcasters",
    ),
    (
        "ws.session.reset",
        "a ws session's connection breaks as a command arrives (the server drops it unread)",
    ),
    (
        "publisher.publish.answer-lost",
        "the room published a track but its answer is lost: the publisher's start fails",
    ),
    (
        "pads.track.read",
        "a track subscription's read fails under a frame: the pump reports a session error",
    ),
];

#[cfg(feature = "fault-points")]
struct Table {
    sites: BTreeMap<String, f64>,
    rng: SimRng,
}

#[cfg(feature = "fault-points")]
thread_local! {
    static TABLE: RefCell<Option<Table>> = const { RefCell::new(None) };
}

/// Installs an empty table on this thread (every site off), seeded.
pub fn install(seed: u64) {
    #[cfg(feature = "fault-points")]
    TABLE.with(|t| {
        *t.borrow_mut() = Some(Table {
            sites: BTreeMap::new(),
            rng: SimRng::fork(seed, "fault-points"),
        })
    });
    #[cfg(not(feature = "fault-points"))]
    let _ = seed;
}

/// Removes this thread's table.
pub fn uninstall() {
    #[cfg(feature = "fault-points")]
    TABLE.with(|t| *t.borrow_mut() = None);
}

/// Switches `site` on with probability `p` per pass (0 switches it off).
pub fn set(site: &str, p: f64) {
    #[cfg(feature = "fault-points")]
    TABLE.with(|t| {
        if let Some(table) = t.borrow_mut().as_mut() {
            if p > 0.0 {
                table.sites.insert(site.to_string(), p.min(1.0));
            } else {
                table.sites.remove(site);
            }
        }
    });
    #[cfg(not(feature = "fault-points"))]
    let _ = (site, p);
}

/// Switches every site off (the heal).
pub fn clear() {
    #[cfg(feature = "fault-points")]
    TABLE.with(|t| {
        if let Some(table) = t.borrow_mut().as_mut() {
            table.sites.clear();
        }
    });
}

/// Should `site` fail now? Draws only when the site is on.
///
/// Every site must be declared in [`SITES`] (debug builds assert it), or
/// plan generators would never switch it on.
#[inline]
pub fn fire(site: &'static str) -> bool {
    #[cfg(feature = "fault-points")]
    {
        debug_assert!(
            SITES.iter().any(|(s, _)| *s == site),
            "fault point `{site}` is not declared in relaysim_core::faults::SITES"
        );
        TABLE.with(|t| match t.borrow_mut().as_mut() {
            Some(table) => match table.sites.get(site).copied() {
                Some(p) => table.rng.chance(p),
                None => false,
            },
            None => false,
        })
    }
    #[cfg(not(feature = "fault-points"))]
    {
        let _ = site;
        false
    }
}

#[cfg(test)]
#[cfg(feature = "fault-points")]
mod tests {
    use super::*;

    #[test]
    fn off_until_installed_and_set() {
        uninstall();
        assert!(!fire("restream.pump.write"));
        install(1);
        assert!(!fire("restream.pump.write"));
        set("restream.pump.write", 1.0);
        assert!(fire("restream.pump.write"));
        assert!(!fire("restream.ingest.read"));
        clear();
        assert!(!fire("restream.pump.write"));
        uninstall();
        // With the table gone, switching a site on does nothing.
        set("restream.pump.write", 1.0);
        assert!(!fire("restream.pump.write"));
    }

    /// A site switched off draws nothing: the sites still on see the same
    /// firings as if it had never been switched on.
    #[test]
    fn a_site_switched_off_draws_nothing() {
        let run = |touch_other: bool| {
            install(5);
            set("restream.pump.write", 0.5);
            if touch_other {
                set("restream.ingest.read", 1.0);
                set("restream.ingest.read", 0.0);
            }
            let firings: Vec<bool> = (0..64)
                .map(|_| {
                    let _ = fire("restream.ingest.read");
                    fire("restream.pump.write")
                })
                .collect();
            uninstall();
            firings
        };
        let alone = run(false);
        assert!(alone.contains(&true) && alone.contains(&false));
        assert_eq!(run(true), alone);
    }
}
