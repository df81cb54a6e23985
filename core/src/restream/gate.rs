//! The egress gate: what one egress session sends, and when, sans-IO.
//!
//! Owns [`EgressGate`]. A new egress session (the first one, a restart for a
//! VOD override, a restart after a stall, a reconnect after a partition)
//! must be decodable from its first frame, so it sends the publish
//! session's metadata and AVC and AAC sequence headers first, then media
//! from a keyframe on. Timestamps are rebased so every egress session starts
//! at 0 and never goes backwards, and **rebasing keeps their spacing**: from
//! the keyframe that opens the gate until it closes again, every frame's
//! out-timestamp is its in-timestamp plus one offset fixed at that keyframe
//! (a later keyframe of an open gate is forwarded like any frame; it does
//! not re-anchor), held at the last one sent if an in-timestamp steps back.
//!
//! **A new publish session** (the publisher reconnected, maybe with another
//! encoder configuration) reaches a running egress session in-band: its
//! metadata and headers are sent as they arrive, the gate closes again until
//! that session's first keyframe, and timestamps go on from where the egress
//! session was. The destination's RTMP session is not restarted for it (a
//! restart costs a reconnect and, on Twitch, a new IVS session); FLV allows a
//! sequence header mid-stream, and decoders (ffmpeg, nginx-rtmp's recorder)
//! reconfigure on it. A frame lost to a lagging pump closes the gate too: the
//! next frame sent is a keyframe.
//!
//! Pure: frames in, frames to send out; the pump does the I/O and proptest
//! can drive it directly. The known bug `egress-missing-sequence-headers`
//! reinstates the pre-fix path for a restarted pump (every egress session
//! but a destination's first): nothing cached is sent, nothing is gated,
//! timestamps pass through — it resumes mid-stream.

use crate::bugs::{BugSet, KnownBug};
use crate::restream::media::{Media, MediaFrame, MediaKind, SessionHeaders};

/// Decides what one egress session sends.
#[derive(Debug, Clone)]
pub struct EgressGate {
    prefix: bool,
    token: u64,
    /// A keyframe opened the gate for the current publish session.
    open: bool,
    /// In-timestamp of the frame that opened the gate, and the out-timestamp
    /// it was given.
    anchor: (u32, u32),
    /// The last out-timestamp sent.
    last_out: u32,
    /// The gate has opened once in this egress session.
    opened_once: bool,
}

impl EgressGate {
    /// A gate for a new egress session (`restarted`: not the destination's
    /// first); the pre-fix path for a restarted one with the known bug
    /// `egress-missing-sequence-headers` on.
    pub fn new(bugs: BugSet, restarted: bool) -> EgressGate {
        EgressGate {
            prefix: !(restarted && bugs.on(KnownBug::EgressMissingSequenceHeaders)),
            token: 0,
            open: false,
            anchor: (0, 0),
            last_out: 0,
            opened_once: false,
        }
    }

    /// The session starts: what to send first (the publish session's cached
    /// metadata and headers, at timestamp 0).
    pub fn start(&mut self, headers: &SessionHeaders) -> Vec<Media> {
        if !self.prefix {
            return Vec::new();
        }
        self.token = headers.token;
        headers
            .in_order()
            .map(|m| retime(m, self.last_out))
            .collect()
    }

    /// Frames were lost (the pump lagged the ring): wait for a keyframe.
    pub fn lost(&mut self) {
        self.open = false;
    }

    /// One frame from the ingest: what to send for it (nothing, or it with
    /// its out-timestamp).
    pub fn push(&mut self, frame: &MediaFrame) -> Option<Media> {
        if !self.prefix {
            return Some(frame.media.clone());
        }
        if frame.token != self.token {
            // A new publish session: its headers follow in-band, then its
            // first keyframe reopens the gate.
            self.token = frame.token;
            self.open = false;
        }
        match frame.media.kind() {
            MediaKind::Metadata | MediaKind::AvcHeader | MediaKind::AacHeader => {
                Some(retime(&frame.media, self.last_out))
            }
            MediaKind::Keyframe if !self.open => {
                let ts = frame.media.ts().unwrap_or(0);
                // The first frame after the gate opens follows the last one
                // sent by a millisecond (0 for a fresh session).
                let out = if self.opened_once {
                    self.last_out.saturating_add(1)
                } else {
                    0
                };
                self.anchor = (ts, out);
                self.open = true;
                self.opened_once = true;
                self.last_out = out;
                Some(retime(&frame.media, out))
            }
            _ if !self.open => None,
            _ => {
                let ts = frame.media.ts().unwrap_or(0);
                let out = self
                    .anchor
                    .1
                    .saturating_add(ts.saturating_sub(self.anchor.0))
                    .max(self.last_out);
                self.last_out = out;
                Some(retime(&frame.media, out))
            }
        }
    }
}

fn retime(m: &Media, ts: u32) -> Media {
    match m {
        Media::Metadata(_) => m.clone(),
        Media::Video { tag, .. } => Media::Video {
            ts,
            tag: tag.clone(),
        },
        Media::Audio { tag, .. } => Media::Audio {
            ts,
            tag: tag.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rml_rtmp::sessions::StreamMetadata;
    use std::sync::Arc;

    fn v(ts: u32, tag: &'static [u8]) -> Media {
        Media::Video {
            ts,
            tag: Bytes::from_static(tag),
        }
    }
    fn a(ts: u32, tag: &'static [u8]) -> Media {
        Media::Audio {
            ts,
            tag: Bytes::from_static(tag),
        }
    }
    const AVC: &[u8] = &[0x17, 0, 0, 0, 0, 1];
    const KEY: &[u8] = &[0x17, 1, 0, 0, 0];
    const INTER: &[u8] = &[0x27, 1, 0, 0, 0];
    const AAC: &[u8] = &[0xaf, 0, 0x13, 0x88];
    const AUD: &[u8] = &[0xaf, 1, 0x21];

    fn headers(token: u64) -> SessionHeaders {
        let mut h = SessionHeaders::default();
        for m in [
            Media::Metadata(Arc::new(StreamMetadata::new())),
            v(0, AVC),
            a(0, AAC),
        ] {
            h.observe(&MediaFrame { token, media: m });
        }
        h
    }

    fn kinds(ms: &[Media]) -> Vec<(MediaKind, Option<u32>)> {
        ms.iter().map(|m| (m.kind(), m.ts())).collect()
    }

    #[test]
    fn a_mid_stream_session_starts_with_headers_then_a_keyframe_at_zero() {
        let mut g = EgressGate::new(BugSet::NONE, true);
        let mut sent = g.start(&headers(1));
        for m in [
            v(5000, INTER),
            a(5010, AUD),
            v(6000, KEY),
            a(5990, AUD),
            a(6040, AUD),
            v(6100, INTER),
        ] {
            sent.extend(g.push(&MediaFrame { token: 1, media: m }));
        }
        use MediaKind::*;
        assert_eq!(
            kinds(&sent),
            [
                (Metadata, None),
                (AvcHeader, Some(0)),
                (AacHeader, Some(0)),
                (Keyframe, Some(0)),
                (Audio, Some(0)),
                (Audio, Some(40)),
                (Video, Some(100)),
            ]
        );
    }

    #[test]
    fn a_keyframe_of_an_open_gate_keeps_the_spacing() {
        let mut g = EgressGate::new(BugSet::NONE, false);
        let mut sent = g.start(&headers(1));
        for m in [
            v(1000, KEY),
            v(1040, INTER),
            v(1080, KEY),
            a(1100, AUD),
            v(2000, KEY),
        ] {
            sent.extend(g.push(&MediaFrame { token: 1, media: m }));
        }
        use MediaKind::*;
        assert_eq!(
            kinds(&sent[3..]),
            [
                (Keyframe, Some(0)),
                (Video, Some(40)),
                (Keyframe, Some(80)),
                (Audio, Some(100)),
                (Keyframe, Some(1000)),
            ],
            "one offset from the opening keyframe on"
        );
    }

    #[test]
    fn a_new_publish_session_regates_and_keeps_time_going_forward() {
        let mut g = EgressGate::new(BugSet::NONE, true);
        let mut sent = g.start(&headers(1));
        sent.extend(g.push(&MediaFrame {
            token: 1,
            media: v(700, KEY),
        }));
        sent.extend(g.push(&MediaFrame {
            token: 1,
            media: v(800, INTER),
        }));
        g.lost();
        sent.extend(g.push(&MediaFrame {
            token: 1,
            media: v(900, INTER),
        }));
        for m in headers(2).in_order() {
            sent.extend(g.push(&MediaFrame {
                token: 2,
                media: m.clone(),
            }));
        }
        sent.extend(g.push(&MediaFrame {
            token: 2,
            media: v(30, INTER),
        }));
        sent.extend(g.push(&MediaFrame {
            token: 2,
            media: v(40, KEY),
        }));
        sent.extend(g.push(&MediaFrame {
            token: 2,
            media: v(140, INTER),
        }));
        use MediaKind::*;
        assert_eq!(
            kinds(&sent),
            [
                (Metadata, None),
                (AvcHeader, Some(0)),
                (AacHeader, Some(0)),
                (Keyframe, Some(0)),
                (Video, Some(100)),
                (Metadata, None),
                (AvcHeader, Some(100)),
                (AacHeader, Some(100)),
                (Keyframe, Some(101)),
                (Video, Some(201)),
            ]
        );
    }

    #[cfg(feature = "known-bugs")]
    #[test]
    fn the_pre_fix_path_resumes_mid_stream() {
        let bugs = BugSet::only(KnownBug::EgressMissingSequenceHeaders);
        assert!(
            !EgressGate::new(bugs, false).start(&headers(1)).is_empty(),
            "a destination's first session was never the problem"
        );
        let mut g = EgressGate::new(bugs, true);
        assert!(g.start(&headers(1)).is_empty());
        let sent = g.push(&MediaFrame {
            token: 1,
            media: v(5000, INTER),
        });
        assert_eq!(sent, Some(v(5000, INTER)));
    }
}
