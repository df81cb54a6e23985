//! The relay protocol the element speaks: one connection per subscription
//! (the catalog, and each track), messages in length-delimited frames: a
//! media frame in a fixed 22-byte binary form (the per-frame path: JSON
//! there cost 7.6% of a pads run's instructions), everything else JSON.
//!
//! Owns [`RelayRequest`], [`RelayMessage`], [`Catalog`], [`TrackInfo`] and
//! [`WireFrame`]; the simulated `moq-relay` host speaks the same types. A
//! stand-in for MoQ's catalog track and per-track ordered consumers: pure
//! data, no I/O. Also owns [`pad_name`]: a pad's name comes from its track,
//! never from arrival order.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::io;

/// A track's media kind (the pad template it uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MediaKind {
    Video,
    Audio,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
        }
    }
}

/// The deterministic pad name of a track: `video_<track>` / `audio_<track>`.
pub fn pad_name(kind: MediaKind, track: &str) -> String {
    format!("{}_{track}", kind.as_str())
}

/// One rendition in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TrackInfo {
    /// Unique within the broadcast (`cam`, `mic`, …).
    pub name: String,
    pub kind: MediaKind,
    pub codec: String,
    /// Codec configuration generation; bumped by a config change.
    pub config: u32,
}

impl TrackInfo {
    pub fn pad_name(&self) -> String {
        pad_name(self.kind, &self.name)
    }

    pub fn caps(&self) -> super::Caps {
        super::Caps {
            codec: self.codec.clone(),
            config: self.config,
        }
    }
}

/// The broadcast's catalog: every track, in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub version: u64,
    pub tracks: Vec<TrackInfo>,
}

impl Catalog {
    /// Track names, comma separated (trace form).
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.tracks.iter().map(|t| t.name.as_str()).collect();
        if names.is_empty() {
            "-".into()
        } else {
            names.join(",")
        }
    }
}

/// One media frame of a track (the payload itself is not simulated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireFrame {
    pub seq: u64,
    pub ts_ms: u64,
    pub keyframe: bool,
    pub config: u32,
}

/// Element → relay: the first message on a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RelayRequest {
    SubscribeCatalog { broadcast: String },
    SubscribeTrack { broadcast: String, track: String },
}

/// Relay → element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RelayMessage {
    Catalog(Catalog),
    Frame(WireFrame),
    /// The track left the broadcast: no more frames.
    TrackEnded,
    /// The subscription was refused or broken.
    Error {
        status: u16,
        reason: String,
    },
}

/// A message of the relay protocol and its bytes.
pub trait Wire: Sized {
    /// The message's bytes (one length-delimited frame's body).
    fn to_bytes(&self) -> io::Result<Bytes>;
    /// A message from one frame's body; `InvalidData` for anything else.
    fn from_bytes(b: &[u8]) -> io::Result<Self>;
}

/// The first byte of a binary media frame (JSON always starts with `{`).
const FRAME_TAG: u8 = 0xF1;
/// Tag, seq, ts_ms, keyframe, config.
const FRAME_LEN: usize = 1 + 8 + 8 + 1 + 4;

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn json<T: Serialize>(msg: &T) -> io::Result<Bytes> {
    serde_json::to_vec(msg).map(Bytes::from).map_err(invalid)
}

fn from_json<T: for<'de> Deserialize<'de>>(b: &[u8]) -> io::Result<T> {
    serde_json::from_slice(b).map_err(invalid)
}

impl Wire for RelayRequest {
    fn to_bytes(&self) -> io::Result<Bytes> {
        json(self)
    }

    fn from_bytes(b: &[u8]) -> io::Result<Self> {
        from_json(b)
    }
}

impl Wire for RelayMessage {
    fn to_bytes(&self) -> io::Result<Bytes> {
        let RelayMessage::Frame(f) = self else {
            return json(self);
        };
        let mut out = Vec::with_capacity(FRAME_LEN);
        out.push(FRAME_TAG);
        out.extend_from_slice(&f.seq.to_be_bytes());
        out.extend_from_slice(&f.ts_ms.to_be_bytes());
        out.push(u8::from(f.keyframe));
        out.extend_from_slice(&f.config.to_be_bytes());
        Ok(Bytes::from(out))
    }

    fn from_bytes(b: &[u8]) -> io::Result<Self> {
        if b.first() != Some(&FRAME_TAG) {
            return from_json(b);
        }
        if b.len() != FRAME_LEN {
            return Err(invalid(format!(
                "a media frame is {FRAME_LEN} bytes, not {}",
                b.len()
            )));
        }
        let u64_at = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            u64::from_be_bytes(x)
        };
        let keyframe = match b[17] {
            0 => false,
            1 => true,
            k => return Err(invalid(format!("a media frame's keyframe flag is {k}"))),
        };
        Ok(RelayMessage::Frame(WireFrame {
            seq: u64_at(1),
            ts_ms: u64_at(9),
            keyframe,
            config: u32::from_be_bytes([b[18], b[19], b[20], b[21]]),
        }))
    }
}

pub fn encode<T: Wire>(msg: &T) -> io::Result<Bytes> {
    msg.to_bytes()
}

pub fn decode<T: Wire>(b: &[u8]) -> io::Result<T> {
    T::from_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_names_are_deterministic() {
        assert_eq!(pad_name(MediaKind::Video, "cam"), "video_cam");
        assert_eq!(pad_name(MediaKind::Audio, "mic"), "audio_mic");
    }

    #[test]
    fn round_trip() {
        let cat = RelayMessage::Catalog(Catalog {
            version: 3,
            tracks: vec![TrackInfo {
                name: "cam".into(),
                kind: MediaKind::Video,
                codec: "h264".into(),
                config: 1,
            }],
        });
        assert_eq!(decode::<RelayMessage>(&encode(&cat).unwrap()).unwrap(), cat);
        let req = RelayRequest::SubscribeTrack {
            broadcast: "live".into(),
            track: "mic".into(),
        };
        assert_eq!(decode::<RelayRequest>(&encode(&req).unwrap()).unwrap(), req);
        assert!(decode::<RelayMessage>(b"{}").is_err());
        assert_eq!(Catalog::default().names(), "-");
    }

    #[test]
    fn a_media_frame_is_22_binary_bytes_and_round_trips_exactly() {
        for (seq, ts_ms, keyframe, config) in [(0, 0, false, 0), (u64::MAX, 7, true, u32::MAX)] {
            let f = RelayMessage::Frame(WireFrame {
                seq,
                ts_ms,
                keyframe,
                config,
            });
            let b = encode(&f).unwrap();
            assert_eq!((b.len(), b[0]), (22, 0xF1));
            assert_eq!(decode::<RelayMessage>(&b).unwrap(), f);
        }
        // Every other message stays JSON.
        assert_eq!(encode(&RelayMessage::TrackEnded).unwrap()[0], b'{');
        // A frame of the wrong size or with a bad flag is InvalidData.
        let good = encode(&RelayMessage::Frame(WireFrame {
            seq: 1,
            ts_ms: 2,
            keyframe: true,
            config: 3,
        }))
        .unwrap();
        for bad in [&good[..21], &[&good[..], &[0][..]].concat()[..]] {
            let e = decode::<RelayMessage>(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        }
        let mut flag = good.to_vec();
        flag[17] = 2;
        assert!(decode::<RelayMessage>(&flag)
            .unwrap_err()
            .to_string()
            .contains("keyframe flag is 2"));
        // A request never takes the binary form.
        assert!(decode::<RelayRequest>(&good).is_err());
    }
}
