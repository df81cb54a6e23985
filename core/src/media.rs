//! Media frames and the transcode ingest's wire framing.
//!
//! Owns [`Frame`] and [`MediaMsg`], the messages a publisher sends the
//! transcode host's ingest ([`crate::transcode::ingest`]) over a
//! length-delimited stream: a publish naming the stream, then one message
//! per frame. The restream path does not use it: it speaks real RTMP
//! ([`crate::restream::media`], `rml_rtmp`). Pure encode/decode; never
//! blocks, never allocates per byte.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::io;

/// One encoded media frame as the relay forwards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Position in the publisher's stream (publish session-local, from 0).
    pub seq: u64,
    /// Presentation time in milliseconds.
    pub ts_ms: u64,
    pub keyframe: bool,
    pub payload: Bytes,
}

/// The messages of the media path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaMsg {
    /// Publisher → relay: start publishing with this stream key.
    Publish { stream_key: String },
    /// A frame, either direction.
    Frame(Frame),
}

const TAG_PUBLISH: u8 = 1;
// Tag 2 was a relay → destination hello before restream moved to RTMP; it
// now decodes as an unknown tag.
const TAG_FRAME: u8 = 3;

impl MediaMsg {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            MediaMsg::Publish { stream_key } => {
                b.put_u8(TAG_PUBLISH);
                b.put_slice(stream_key.as_bytes());
            }
            MediaMsg::Frame(f) => {
                b.reserve(18 + f.payload.len());
                b.put_u8(TAG_FRAME);
                b.put_u64(f.seq);
                b.put_u64(f.ts_ms);
                b.put_u8(u8::from(f.keyframe));
                b.put_slice(&f.payload);
            }
        }
        b.freeze()
    }

    pub fn decode(mut b: Bytes) -> io::Result<MediaMsg> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
        if b.is_empty() {
            return Err(bad("empty media message"));
        }
        let text = |b: Bytes| String::from_utf8(b.to_vec()).map_err(|_| bad("non-utf8 text"));
        match b.get_u8() {
            TAG_PUBLISH => Ok(MediaMsg::Publish {
                stream_key: text(b)?,
            }),
            TAG_FRAME => {
                if b.len() < 17 {
                    return Err(bad("short frame header"));
                }
                let seq = b.get_u64();
                let ts_ms = b.get_u64();
                let keyframe = b.get_u8() != 0;
                Ok(MediaMsg::Frame(Frame {
                    seq,
                    ts_ms,
                    keyframe,
                    payload: b,
                }))
            }
            t => Err(bad(&format!("unknown media tag {t}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let msgs = [
            MediaMsg::Publish {
                stream_key: "live_key".into(),
            },
            MediaMsg::Frame(Frame {
                seq: 9,
                ts_ms: 900,
                keyframe: true,
                payload: Bytes::from_static(b"abc"),
            }),
        ];
        for m in msgs {
            assert_eq!(MediaMsg::decode(m.encode()).unwrap(), m);
        }
        // A frame with no payload is exactly its 17-byte header.
        let empty = MediaMsg::Frame(Frame {
            seq: 1,
            ts_ms: 2,
            keyframe: false,
            payload: Bytes::new(),
        });
        assert_eq!(empty.encode().len(), 18);
        assert_eq!(MediaMsg::decode(empty.encode()).unwrap(), empty);
        assert!(MediaMsg::decode(Bytes::new()).is_err());
        assert!(MediaMsg::decode(Bytes::from_static(&[3, 1])).is_err());
        assert!(MediaMsg::decode(Bytes::from_static(&[99])).is_err());
    }
}
