//! The restream `Controller`, whole surface: two publishers, each admitted
//! with `begin_publish` (retrying while the other is live), sending its
//! session's AVC sequence header and a keyframe with `on_media`, then
//! ending ingest with `mark_ingest_dead` the way ingest does (only while it
//! is still the live publisher); another frame of the first session racing
//! its end, and a late one sent once the second was admitted; a wrong stream key; a pump subscribing
//! (`subscribe_media`) and reading its destination's state; the admin side
//! creating, listing and removing destinations.
//!
//! Invariants after every execution (and during it, where stated):
//! - one publisher at a time (checked at every admission); a wrong key is
//!   refused; tokens are 1 and 2, one per admission, and `publisher_token`
//!   ends at 2 with ingest dead;
//! - every alive→dead edge invalidates every destination that existed
//!   throughout exactly once: the epoch of one created before the run ends
//!   at 2;
//! - a frame of a session that is no longer the current one is dropped: the
//!   late frame reaches neither the cache nor any pump;
//! - a pump never sees a session's keyframe without that session's sequence
//!   header, in its snapshot or its receiver (the snapshot and the
//!   subscription are taken together);
//! - the header cache ends with the last session's header (it never falls
//!   back to an older session: with the token checked before the headers
//!   lock, a frame racing its session's end reset the next session's cache,
//!   so a pump starting later missed the sequence header);
//! - `destination_state` is pointer-stable while the destination exists,
//!   and a removed destination is gone from `destination_states`.

use super::explore;
use bytes::Bytes;
use relaysim_core::restream::media::{Media, MediaFrame};
use relaysim_core::restream::{Controller, PublishError};
use relaysim_core::{BugSet, Emitter};
use shuttle::sync::atomic::{AtomicUsize, Ordering};
use shuttle::sync::Arc;
use shuttle::thread;

const KEY: &str = "live_key";

fn header(session: u8) -> Media {
    Media::Video {
        ts: 0,
        tag: Bytes::from(vec![0x17, 0x00, session]),
    }
}

fn keyframe(session: u8) -> Media {
    Media::Video {
        ts: 40,
        tag: Bytes::from(vec![0x17, 0x01, session]),
    }
}

fn session_of(m: &Media) -> u8 {
    match m {
        Media::Video { tag, .. } => tag[2],
        other => panic!("unexpected {other:?}"),
    }
}

fn is_header(m: &Media) -> bool {
    matches!(m, Media::Video { tag, .. } if tag[1] == 0)
}

/// One publisher's connection: admitted (retrying while another is live),
/// its header and a keyframe, then the end of ingest.
fn publish(ctl: &Controller, live: &AtomicUsize) -> u64 {
    let token = loop {
        match shuttle::future::block_on(ctl.begin_publish(KEY)) {
            Ok(t) => break t,
            Err(PublishError::AlreadyExists) => thread::yield_now(),
            Err(e) => panic!("refused with {e:?}"),
        }
    };
    assert_eq!(
        live.fetch_add(1, Ordering::SeqCst),
        0,
        "two publishers admitted at once (token {token})"
    );
    let session = token as u8;
    ctl.on_media(token, header(session));
    ctl.on_media(token, keyframe(session));
    live.fetch_sub(1, Ordering::SeqCst);
    if ctl.publisher_token() == token {
        ctl.mark_ingest_dead();
    }
    token
}

fn model() -> impl Fn() + Send + Sync {
    move || {
        let ctl = Arc::new(Controller::new(
            KEY,
            BugSet::NONE,
            Emitter::tracing_only("relay"),
        ));
        let twitch = ctl.destination_state("twitch");
        let live = Arc::new(AtomicUsize::new(0));

        let publishers: Vec<_> = (0..2)
            .map(|_| {
                let (ctl, live) = (ctl.clone(), live.clone());
                thread::spawn(move || publish(&ctl, &live))
            })
            .collect();
        let late = {
            let ctl = ctl.clone();
            thread::spawn(move || {
                assert_eq!(
                    shuttle::future::block_on(ctl.begin_publish("wrong")),
                    Err(PublishError::BadKey)
                );
                while ctl.publisher_token() < 1 {
                    thread::yield_now();
                }
                // A frame of session 1 racing its end: cached and sent
                // while session 1 is current, or dropped, never after
                // session 2's frames.
                ctl.on_media(1, header(1));
                while ctl.publisher_token() < 2 {
                    thread::yield_now();
                }
                // Session 1's reader, one frame too late: dropped.
                ctl.on_media(1, header(99));
            })
        };
        let pump = {
            let ctl = ctl.clone();
            thread::spawn(move || {
                thread::yield_now();
                let state = ctl.destination_state("twitch");
                let _ = (
                    state.override_url(),
                    state.session_epoch(),
                    ctl.ingest_alive(),
                );
                ctl.subscribe_media()
            })
        };
        let admin = {
            let ctl = ctl.clone();
            thread::spawn(move || {
                let kick = ctl.destination_state("kick");
                assert!(
                    Arc::ptr_eq(&kick, &ctl.destination_state("kick")),
                    "two states for kick"
                );
                let ids: Vec<String> = ctl
                    .destination_states()
                    .iter()
                    .map(|d| d.id().to_string())
                    .collect();
                assert!(
                    ids.windows(2).all(|w| w[0] < w[1]),
                    "destinations out of order: {ids:?}"
                );
                ctl.remove_destination("kick");
                assert!(
                    ctl.destination_states().iter().all(|d| d.id() != "kick"),
                    "kick survived its removal"
                );
            })
        };
        let mut tokens: Vec<u64> = publishers.into_iter().map(|h| h.join().unwrap()).collect();
        late.join().unwrap();
        let mut feed = pump.join().unwrap();
        admin.join().unwrap();

        tokens.sort_unstable();
        assert_eq!(tokens, [1, 2], "tokens");
        assert_eq!(ctl.publisher_token(), 2);
        assert!(
            !ctl.ingest_alive(),
            "ingest still alive after both publishers ended"
        );
        assert_eq!(
            twitch.session_epoch(),
            2,
            "twitch was invalidated {} times for 2 ended sessions",
            twitch.session_epoch()
        );
        assert!(Arc::ptr_eq(&twitch, &ctl.destination_state("twitch")));

        // What the pump saw: its snapshot, then its receiver.
        let mut seen: Vec<(u64, Media)> = feed
            .headers
            .in_order()
            .map(|m| (feed.headers.token, m.clone()))
            .collect();
        while let Ok(MediaFrame { token, media }) = feed.frames.try_recv() {
            seen.push((token, media));
        }
        for (token, m) in &seen {
            assert_eq!(
                u64::from(session_of(m)),
                *token,
                "a frame of session {} reached a pump as session {token} (late frame?): {seen:?}",
                session_of(m)
            );
            if !is_header(m) {
                assert!(
                    seen.iter().any(|(t, h)| t == token && is_header(h)),
                    "the pump saw session {token}'s keyframe without its sequence header: {seen:?}"
                );
            }
        }
        let cache = ctl.subscribe_media().headers;
        assert_eq!(
            cache.token, 2,
            "the header cache belongs to session {}",
            cache.token
        );
        let avc = cache.avc.as_ref().map(session_of);
        assert_eq!(
            avc,
            Some(2),
            "the cached sequence header is session {avc:?}'s"
        );
    }
}

#[test]
fn shuttle_controller_whole_surface() {
    explore("controller", model());
}
