//! What the restream media path carries: RTMP media as FLV tag bodies.
//!
//! Owns [`Media`] (metadata, or an audio/video message: its timestamp and
//! FLV tag bytes, exactly the RTMP message body), [`MediaFrame`] (one of
//! those stamped with the publish session it belongs to), [`SessionHeaders`]
//! (what a publish session has said that every egress session must hear
//! first) and the few FLV facts the relay reads: is this tag a sequence
//! header, is it a keyframe. Pure data; never blocks, never does I/O.

use bytes::Bytes;
use rml_rtmp::sessions::StreamMetadata;
use std::sync::Arc;

/// FLV video codec id of H.264 (AVC).
pub const CODEC_AVC: u8 = 7;
/// FLV audio format id of AAC.
pub const FORMAT_AAC: u8 = 10;

/// One message of a publish session.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    /// `@setDataFrame onMetaData`, as parsed fields.
    Metadata(Arc<StreamMetadata>),
    /// A video message: FLV VIDEODATA (frame type, codec, AVC packet type,
    /// composition time, NAL units).
    Video {
        /// RTMP timestamp, ms.
        ts: u32,
        /// The FLV tag body.
        tag: Bytes,
    },
    /// An audio message: FLV AUDIODATA (format, rate, size, type, AAC
    /// packet type, payload).
    Audio {
        /// RTMP timestamp, ms.
        ts: u32,
        /// The FLV tag body.
        tag: Bytes,
    },
}

/// The kind of a [`Media`] message, as traces and checks name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MediaKind {
    /// Stream metadata.
    Metadata,
    /// The AVC decoder configuration record.
    AvcHeader,
    /// The AAC audio specific config.
    AacHeader,
    /// A video frame that starts a GOP.
    Keyframe,
    /// Any other video frame.
    Video,
    /// Any other audio frame.
    Audio,
}

impl Media {
    /// What this message is.
    pub fn kind(&self) -> MediaKind {
        match self {
            Media::Metadata(_) => MediaKind::Metadata,
            Media::Video { tag, .. } if is_avc_sequence_header(tag) => MediaKind::AvcHeader,
            Media::Video { tag, .. } if is_video_keyframe(tag) => MediaKind::Keyframe,
            Media::Video { .. } => MediaKind::Video,
            Media::Audio { tag, .. } if is_aac_sequence_header(tag) => MediaKind::AacHeader,
            Media::Audio { .. } => MediaKind::Audio,
        }
    }

    /// The message's timestamp (metadata has none).
    pub fn ts(&self) -> Option<u32> {
        match self {
            Media::Metadata(_) => None,
            Media::Video { ts, .. } | Media::Audio { ts, .. } => Some(*ts),
        }
    }
}

/// A message of publish session `token`, as the ingest fans it out.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaFrame {
    /// The publish session (the controller's publisher token).
    pub token: u64,
    /// The message.
    pub media: Media,
}

/// What publish session `token` has said that a decoder needs before its
/// first frame: metadata and both sequence headers (the latest of each).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionHeaders {
    /// The publish session these belong to (0: none yet).
    pub token: u64,
    /// The latest `onMetaData`.
    pub metadata: Option<Media>,
    /// The latest AVC sequence header.
    pub avc: Option<Media>,
    /// The latest AAC sequence header.
    pub aac: Option<Media>,
}

impl SessionHeaders {
    /// Remembers `frame` if it is a header, starting afresh on a new
    /// session. Returns whether it was one.
    pub fn observe(&mut self, frame: &MediaFrame) -> bool {
        if frame.token != self.token {
            *self = SessionHeaders {
                token: frame.token,
                ..SessionHeaders::default()
            };
        }
        let slot = match frame.media.kind() {
            MediaKind::Metadata => &mut self.metadata,
            MediaKind::AvcHeader => &mut self.avc,
            MediaKind::AacHeader => &mut self.aac,
            _ => return false,
        };
        *slot = Some(frame.media.clone());
        true
    }

    /// The cached headers, in the order an egress session sends them.
    pub fn in_order(&self) -> impl Iterator<Item = &Media> {
        [&self.metadata, &self.avc, &self.aac]
            .into_iter()
            .filter_map(Option::as_ref)
    }
}

/// An FLV video tag body carrying an AVC sequence header (frame type any,
/// codec 7, AVCPacketType 0).
pub fn is_avc_sequence_header(tag: &[u8]) -> bool {
    tag.len() >= 2 && tag[0] & 0x0f == CODEC_AVC && tag[1] == 0
}

/// An FLV video tag body of a keyframe: frame type 1 and, for AVC, a NALU
/// packet (AVCPacketType 1; not a sequence header nor an end-of-sequence
/// marker).
pub fn is_video_keyframe(tag: &[u8]) -> bool {
    if tag.is_empty() || tag[0] >> 4 != 1 {
        return false;
    }
    tag[0] & 0x0f != CODEC_AVC || (tag.len() >= 2 && tag[1] == 1)
}

/// An FLV audio tag body carrying an AAC sequence header (format 10,
/// AACPacketType 0).
pub fn is_aac_sequence_header(tag: &[u8]) -> bool {
    tag.len() >= 2 && tag[0] >> 4 == FORMAT_AAC && tag[1] == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(tag: &'static [u8]) -> Media {
        Media::Video {
            ts: 0,
            tag: Bytes::from_static(tag),
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(video(&[0x17, 0, 0, 0, 0, 1]).kind(), MediaKind::AvcHeader);
        assert_eq!(video(&[0x17, 1, 0, 0, 0]).kind(), MediaKind::Keyframe);
        assert_eq!(video(&[0x27, 1, 0, 0, 0]).kind(), MediaKind::Video);
        assert_eq!(
            video(&[0x17, 2, 0, 0, 0]).kind(),
            MediaKind::Video,
            "end of sequence"
        );
        let aac = |b: &'static [u8]| Media::Audio {
            ts: 5,
            tag: Bytes::from_static(b),
        };
        assert_eq!(aac(&[0xaf, 0, 0x13, 0x88]).kind(), MediaKind::AacHeader);
        assert_eq!(aac(&[0xaf, 1, 0x21]).kind(), MediaKind::Audio);
        assert_eq!(aac(&[0xaf, 1]).ts(), Some(5));
        let meta = Media::Metadata(Arc::new(StreamMetadata::new()));
        assert_eq!((meta.kind(), meta.ts()), (MediaKind::Metadata, None));
        assert_eq!(video(&[]).kind(), MediaKind::Video);
    }

    fn audio(tag: &'static [u8]) -> Media {
        Media::Audio {
            ts: 0,
            tag: Bytes::from_static(tag),
        }
    }

    /// Only AAC (format 10) has a sequence header: audio of another format
    /// is plain audio whatever its second byte, and a tag too short to say
    /// is plain audio, never a panic.
    #[test]
    fn only_aac_audio_has_a_sequence_header() {
        assert_eq!(audio(&[0x2f, 0, 0xff]).kind(), MediaKind::Audio, "MP3");
        assert_eq!(audio(&[0xaf]).kind(), MediaKind::Audio);
        assert_eq!(audio(&[]).kind(), MediaKind::Audio);
        assert!(!is_aac_sequence_header(&[0x2f, 0]));
        assert!(is_aac_sequence_header(&[0xaf, 0]));
    }

    /// A keyframe is frame type 1; only AVC also needs a NALU packet: a
    /// keyframe of another codec is one whatever follows its first byte, an
    /// AVC one too short to carry its packet type is not.
    #[test]
    fn a_keyframe_needs_a_nalu_packet_only_for_avc() {
        assert_eq!(video(&[0x12]).kind(), MediaKind::Keyframe, "Sorenson");
        assert_eq!(video(&[0x12, 0]).kind(), MediaKind::Keyframe);
        assert_eq!(video(&[0x22, 0]).kind(), MediaKind::Video);
        assert_eq!(video(&[0x17]).kind(), MediaKind::Video);
        assert!(!is_avc_sequence_header(&[0x12, 0]), "not AVC");
        assert!(!is_avc_sequence_header(&[0x17]));
    }

    /// Metadata is cached as the session's latest, and the cache yields
    /// metadata, then the AVC header, then the AAC header, whatever order
    /// they came in.
    #[test]
    fn headers_come_out_metadata_then_avc_then_aac() {
        let mut h = SessionHeaders::default();
        let f = |media| MediaFrame { token: 1, media };
        let meta = Media::Metadata(Arc::new(StreamMetadata::new()));
        assert!(h.observe(&f(audio(&[0xaf, 0, 0x13, 0x88]))));
        assert!(h.observe(&f(video(&[0x17, 0, 0, 0, 0, 1]))));
        assert!(h.observe(&f(meta.clone())));
        let kinds: Vec<MediaKind> = h.in_order().map(Media::kind).collect();
        assert_eq!(
            kinds,
            [
                MediaKind::Metadata,
                MediaKind::AvcHeader,
                MediaKind::AacHeader
            ]
        );
        assert_eq!(h.metadata, Some(meta));
    }

    #[test]
    fn headers_are_per_publish_session() {
        let mut h = SessionHeaders::default();
        let f = |token, media| MediaFrame { token, media };
        assert!(h.observe(&f(1, video(&[0x17, 0, 0, 0, 0, 1]))));
        assert!(!h.observe(&f(1, video(&[0x17, 1, 0, 0, 0]))));
        assert_eq!((h.token, h.avc.is_some()), (1, true));
        assert!(!h.observe(&f(2, video(&[0x27, 1]))));
        assert_eq!(
            h,
            SessionHeaders {
                token: 2,
                ..SessionHeaders::default()
            }
        );
        assert_eq!(h.in_order().count(), 0);
    }
}
