//! The test clip the simulated OBS publishes: `scenarios/testdata/clip.flv`,
//! two seconds of real H.264 (160x90, 10 fps, a keyframe every second) and
//! AAC-LC (22.05 kHz mono), about 10 KB, made once by
//! `scripts/make-rtmp-clip.sh` (ffmpeg's `testsrc` and `sine`).
//!
//! Owns the FLV file reader (header, then tags: type, size, timestamp,
//! body) and [`Clip`]: the sequence headers apart, the media tags in file
//! order, and the loop period. The publisher loops the media tags with
//! timestamps rewritten to `loop × period + ts`.

use bytes::Bytes;
use relaysim_core::restream::rtmp::rml_rtmp::sessions::StreamMetadata;
use std::sync::OnceLock;

/// The clip's bytes.
pub const CLIP_FLV: &[u8] = include_bytes!("../../../testdata/clip.flv");

/// FLV tag types.
const TAG_AUDIO: u8 = 8;
const TAG_VIDEO: u8 = 9;

/// One media tag of the clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipTag {
    /// Video (else audio).
    pub video: bool,
    /// Timestamp in the clip, ms.
    pub ts: u32,
    /// The FLV tag body (the RTMP message body).
    pub body: Bytes,
}

/// The clip, ready to publish.
#[derive(Debug, Clone)]
pub struct Clip {
    /// The AVC sequence header's tag body.
    pub avc_header: Bytes,
    /// The AAC sequence header's tag body.
    pub aac_header: Bytes,
    /// Audio and video tags in file order (no sequence headers).
    pub tags: Vec<ClipTag>,
    /// One loop's length, ms (the last tag's timestamp plus a video frame).
    pub period_ms: u32,
}

/// The metadata the publisher announces (what `make-rtmp-clip.sh` encodes).
pub fn metadata() -> StreamMetadata {
    let mut m = StreamMetadata::new();
    m.video_width = Some(160);
    m.video_height = Some(90);
    m.video_codec_id = Some(7);
    m.video_frame_rate = Some(10.0);
    m.video_bitrate_kbps = Some(16);
    m.audio_codec_id = Some(10);
    m.audio_bitrate_kbps = Some(12);
    m.audio_sample_rate = Some(22050);
    m.audio_channels = Some(1);
    m.audio_is_stereo = Some(false);
    m.encoder = Some("relaysim-obs".into());
    m
}

/// Reads an FLV file's tags: `(type, timestamp, body)`.
pub fn read_flv(flv: &[u8]) -> Result<Vec<(u8, u32, Bytes)>, String> {
    if flv.len() < 13 || &flv[..3] != b"FLV" {
        return Err("not an FLV file".into());
    }
    let header_len = u32::from_be_bytes([flv[5], flv[6], flv[7], flv[8]]) as usize;
    let mut at = header_len + 4; // header, then PreviousTagSize0
    let mut tags = Vec::new();
    while at + 11 <= flv.len() {
        let h = &flv[at..at + 11];
        let kind = h[0] & 0x1f;
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let body = at + 11;
        if body + size + 4 > flv.len() {
            return Err(format!("tag at {at} runs past the end"));
        }
        tags.push((kind, ts, Bytes::copy_from_slice(&flv[body..body + size])));
        at = body + size + 4;
    }
    Ok(tags)
}

impl Clip {
    /// Parses an FLV of H.264 + AAC.
    pub fn parse(flv: &[u8]) -> Result<Clip, String> {
        let mut avc_header = None;
        let mut aac_header = None;
        let mut tags = Vec::new();
        for (kind, ts, body) in read_flv(flv)? {
            let seq_header = body.len() >= 2 && body[1] == 0;
            // The encoder's end-of-sequence marker (AVCPacketType 2) would
            // end the stream mid-loop: the loop never ends.
            let end_of_sequence = kind == TAG_VIDEO && body.len() >= 2 && body[1] == 2;
            match kind {
                _ if end_of_sequence => {}
                TAG_VIDEO if seq_header => avc_header = Some(body),
                TAG_AUDIO if seq_header => aac_header = Some(body),
                TAG_VIDEO | TAG_AUDIO => tags.push(ClipTag {
                    video: kind == TAG_VIDEO,
                    ts,
                    body,
                }),
                _ => {}
            }
        }
        let last = tags.iter().map(|t| t.ts).max().ok_or("no media tags")?;
        Ok(Clip {
            avc_header: avc_header.ok_or("no AVC sequence header")?,
            aac_header: aac_header.ok_or("no AAC sequence header")?,
            tags,
            period_ms: last + 100,
        })
    }

    /// The committed clip.
    pub fn get() -> &'static Clip {
        static CLIP: OnceLock<Clip> = OnceLock::new();
        CLIP.get_or_init(|| Clip::parse(CLIP_FLV).expect("scenarios/testdata/clip.flv parses"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_clip_is_real_h264_and_aac() {
        let c = Clip::get();
        // AVCDecoderConfigurationRecord version 1, AudioSpecificConfig of
        // AAC-LC (object type 2) at 22.05 kHz (index 7), mono.
        assert_eq!((c.avc_header[0], c.avc_header[5]), (0x17, 1));
        assert_eq!(c.aac_header[0] >> 4, 10);
        assert_eq!(c.aac_header[2] >> 3, 2);
        let video: Vec<_> = c.tags.iter().filter(|t| t.video).collect();
        let keyframes = video.iter().filter(|t| t.body[0] >> 4 == 1).count();
        assert_eq!((video.len(), keyframes), (20, 2));
        assert!(video[0].body[0] >> 4 == 1, "the clip starts at a keyframe");
        assert!(c.tags.len() > 60 && c.period_ms >= 2000, "{}", c.period_ms);
        assert!(CLIP_FLV.len() < 16 * 1024);
        assert!(read_flv(b"nope").is_err());
    }
}
