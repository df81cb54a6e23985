//! The relay protocol the element speaks: one connection per subscription
//! (the catalog, and each track), JSON messages in length-delimited frames.
//!
//! Owns [`RelayRequest`], [`RelayMessage`], [`Catalog`], [`TrackInfo`] and
//! [`WireFrame`]; the simulated `moq-relay` host speaks the same types. A
//! stand-in for MoQ's catalog track and per-track ordered consumers: pure
//! data, no I/O. Also owns [`pad_name`]: a pad's name comes from its track,
//! never from arrival order.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;
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

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

pub fn encode<T: Serialize>(msg: &T) -> io::Result<Bytes> {
    serde_json::to_vec(msg)
        .map(Bytes::from)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> io::Result<T> {
    serde_json::from_slice(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
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
}
