//! Property tests of the egress gate (`core/src/restream/gate.rs`), driven
//! directly, sans-IO: publish sessions shaped like a real publisher's
//! (metadata, AVC and AAC headers, then keyframes, inter frames and audio),
//! a pump that starts anywhere in them, frames lost to a lagging ring.
//!
//! Whatever the start point, for every egress session:
//! - nothing but metadata and headers goes out before the first keyframe,
//!   and that keyframe has timestamp 0;
//! - before the first media frame of each publish session, its metadata and
//!   both headers went out (from the snapshot or in-band);
//! - after a loss or a new publish session the next media frame is a
//!   keyframe, and once open the gate forwards every media frame;
//! - timestamps never go backwards, and while the gate stays open they keep
//!   their spacing: every frame's out-timestamp is its in-timestamp plus the
//!   offset of the keyframe that opened the gate (the inputs' timestamps
//!   never step back within a publish session here).

use bytes::Bytes;
use proptest::prelude::*;
use relaysim_core::restream::gate::EgressGate;
use relaysim_core::restream::media::{Media, MediaFrame, MediaKind, SessionHeaders};
use relaysim_core::restream::rtmp::rml_rtmp::sessions::StreamMetadata;
use relaysim_core::BugSet;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Key,
    Inter,
    Audio,
}

fn media(kind: MediaKind, ts: u32) -> Media {
    let v = |b: &'static [u8]| Media::Video {
        ts,
        tag: Bytes::from_static(b),
    };
    let a = |b: &'static [u8]| Media::Audio {
        ts,
        tag: Bytes::from_static(b),
    };
    match kind {
        MediaKind::Metadata => Media::Metadata(Arc::new(StreamMetadata::new())),
        MediaKind::AvcHeader => v(&[0x17, 0, 0, 0, 0, 1]),
        MediaKind::AacHeader => a(&[0xaf, 0, 0x13, 0x88]),
        MediaKind::Keyframe => v(&[0x17, 1, 0, 0, 0, 5]),
        MediaKind::Video => v(&[0x27, 1, 0, 0, 0, 1]),
        MediaKind::Audio => a(&[0xaf, 1, 0x21]),
    }
}

/// One input step: a frame (maybe lost before it).
#[derive(Debug, Clone)]
struct Step {
    frame: MediaFrame,
    lost_before: bool,
}

fn stream() -> impl Strategy<Value = (Vec<Step>, usize)> {
    let session = prop::collection::vec(
        (
            prop_oneof![Just(Kind::Key), Just(Kind::Inter), Just(Kind::Audio)],
            0u32..150,
            prop::bool::weighted(0.05),
        ),
        0..40,
    );
    prop::collection::vec(session, 1..4).prop_flat_map(|sessions| {
        let mut steps = Vec::new();
        for (i, s) in sessions.into_iter().enumerate() {
            let token = i as u64 + 1;
            for k in [
                MediaKind::Metadata,
                MediaKind::AvcHeader,
                MediaKind::AacHeader,
            ] {
                steps.push(Step {
                    frame: MediaFrame {
                        token,
                        media: media(k, 0),
                    },
                    lost_before: false,
                });
            }
            let mut ts = 0;
            for (kind, dt, lost) in s {
                ts += dt;
                let k = match kind {
                    Kind::Key => MediaKind::Keyframe,
                    Kind::Inter => MediaKind::Video,
                    Kind::Audio => MediaKind::Audio,
                };
                steps.push(Step {
                    frame: MediaFrame {
                        token,
                        media: media(k, ts),
                    },
                    lost_before: lost,
                });
            }
        }
        let n = steps.len();
        (Just(steps), 0..=n)
    })
}

fn is_header(k: MediaKind) -> bool {
    matches!(
        k,
        MediaKind::Metadata | MediaKind::AvcHeader | MediaKind::AacHeader
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_egress_session_is_decodable_from_its_first_frame((steps, start) in stream()) {
        // The controller's cache as of the pump's start.
        let mut cache = SessionHeaders::default();
        for s in &steps[..start] {
            cache.observe(&s.frame);
        }
        let mut gate = EgressGate::new(BugSet::NONE, true);
        let mut sent: Vec<MediaKind> = Vec::new();
        // Headers sent for the current publish session, and the gate as
        // the properties expect it.
        let mut token = cache.token;
        let mut headers: Vec<MediaKind> = Vec::new();
        let mut last_ts: Option<u32> = None;
        let mut open = false;
        // out - in, fixed by the keyframe that opened the gate.
        let mut offset: Option<i64> = None;
        for m in gate.start(&cache) {
            headers.push(m.kind());
            sent.push(m.kind());
            if let Some(ts) = m.ts() { last_ts = Some(ts); }
        }
        for s in &steps[start..] {
            if s.lost_before {
                gate.lost();
                open = false;
            }
            if s.frame.token != token {
                token = s.frame.token;
                headers.clear();
                open = false;
            }
            let kind = s.frame.media.kind();
            let opened_before = open;
            let out = gate.push(&s.frame);
            if let Some(m) = &out {
                prop_assert_eq!(m.kind(), kind, "the gate never changes a frame's kind");
                if let (Some(prev), Some(ts)) = (last_ts, m.ts()) {
                    prop_assert!(ts >= prev, "time went back: {} after {}", ts, prev);
                }
                if let Some(ts) = m.ts() { last_ts = Some(ts); }
                sent.push(kind);
            }
            if is_header(kind) {
                prop_assert!(out.is_some(), "headers always go out");
                headers.push(kind);
                continue;
            }
            match (open, kind, &out) {
                (false, MediaKind::Keyframe, Some(m)) => {
                    for h in [MediaKind::Metadata, MediaKind::AvcHeader, MediaKind::AacHeader] {
                        prop_assert!(headers.contains(&h), "{:?} missing before the keyframe: sent {:?}", h, sent);
                    }
                    if !sent[..sent.len() - 1].iter().any(|k| !is_header(*k)) {
                        prop_assert_eq!(m.ts(), Some(0), "the session starts at 0");
                    }
                    open = true;
                }
                (false, _, Some(_)) => prop_assert!(false, "{:?} went out before a keyframe: {:?}", kind, sent),
                (false, _, None) => {}
                (true, _, None) => prop_assert!(false, "an open gate dropped a {:?}", kind),
                (true, _, Some(_)) => {}
            }
            if let (Some(m), Some(in_ts)) = (&out, s.frame.media.ts()) {
                let shift = i64::from(m.ts().expect("media keeps a timestamp")) - i64::from(in_ts);
                match offset {
                    // Still open since the frame that fixed the offset.
                    Some(o) if opened_before => prop_assert_eq!(
                        shift, o,
                        "an open gate changed a {:?}'s spacing (in {}): sent {:?}", kind, in_ts, sent
                    ),
                    _ => offset = Some(shift),
                }
            }
        }
    }
}

#[cfg(feature = "known-bugs")]
#[test]
fn the_pre_fix_path_breaks_the_property_on_a_restart() {
    use relaysim_core::KnownBug;
    let mut cache = SessionHeaders::default();
    for k in [
        MediaKind::Metadata,
        MediaKind::AvcHeader,
        MediaKind::AacHeader,
    ] {
        cache.observe(&MediaFrame {
            token: 1,
            media: media(k, 0),
        });
    }
    let bugs = BugSet::only(KnownBug::EgressMissingSequenceHeaders);
    let mut g = EgressGate::new(bugs, true);
    assert!(g.start(&cache).is_empty(), "no headers");
    let first = g.push(&MediaFrame {
        token: 1,
        media: media(MediaKind::Audio, 4100),
    });
    assert_eq!(
        first.map(|m| (m.kind(), m.ts())),
        Some((MediaKind::Audio, Some(4100))),
        "mid-stream, not at a keyframe, not rebased"
    );
}
