//! The unit of media the transcode component moves: [`Fragment`], its
//! [`FragmentFlags`] and the per-track [`FragmentMeta`].
//!
//! Owns the data shapes only (LVQR's `lvqr_fragment` model, seed-systems.md
//! §2.1): every ingest protocol becomes fragments, every egress consumes them.
//! Plain data: no locks, no I/O, no clock.

use bytes::Bytes;

/// The video track of a broadcast (90 kHz timescale by convention).
pub const VIDEO_TRACK: &str = "0.mp4";
/// The audio track of a broadcast.
pub const AUDIO_TRACK: &str = "1.mp4";
/// The SCTE-35 cue track.
pub const SCTE35_TRACK: &str = "scte35";
/// The video timescale (ticks per second).
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// How a fragment may be decoded and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FragmentFlags {
    /// Starts a group: a decoder can begin here.
    pub keyframe: bool,
    /// Decodable without earlier fragments.
    pub independent: bool,
    /// Nothing depends on it; it may be dropped under pressure.
    pub discardable: bool,
}

impl FragmentFlags {
    pub const KEYFRAME: FragmentFlags = FragmentFlags {
        keyframe: true,
        independent: true,
        discardable: false,
    };
    pub const AUDIO: FragmentFlags = FragmentFlags {
        keyframe: false,
        independent: true,
        discardable: false,
    };
    pub const DELTA_DISCARDABLE: FragmentFlags = FragmentFlags {
        keyframe: false,
        independent: false,
        discardable: true,
    };
    pub const DELTA: FragmentFlags = FragmentFlags {
        keyframe: false,
        independent: false,
        discardable: false,
    };
}

/// One media fragment of one track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub track_id: String,
    /// Bumps on every keyframe.
    pub group_id: u64,
    /// Position within the group.
    pub object_id: u64,
    pub priority: u8,
    /// Decode / presentation timestamps and duration, in the track timescale.
    pub dts: u64,
    pub pts: u64,
    pub duration: u64,
    pub flags: FragmentFlags,
    pub payload: Bytes,
    /// When ingest received it, in ms (0: unset).
    pub ingest_time_ms: u64,
}

impl Fragment {
    #[allow(clippy::too_many_arguments)] // the upstream constructor's shape
    pub fn new(
        track_id: impl Into<String>,
        group_id: u64,
        object_id: u64,
        priority: u8,
        dts: u64,
        pts: u64,
        duration: u64,
        flags: FragmentFlags,
        payload: Bytes,
    ) -> Fragment {
        Fragment {
            track_id: track_id.into(),
            group_id,
            object_id,
            priority,
            dts,
            pts,
            duration,
            flags,
            payload,
            ingest_time_ms: 0,
        }
    }

    pub fn with_ingest_time_ms(mut self, ms: u64) -> Fragment {
        self.ingest_time_ms = ms;
        self
    }

    pub fn payload_len(&self) -> usize {
        self.payload.len()
    }
}

/// What a subscriber needs to decode a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentMeta {
    pub codec: String,
    pub timescale: u32,
    /// The fMP4 init segment; often arrives after the track was created.
    pub init_segment: Option<Bytes>,
}

impl FragmentMeta {
    pub fn new(codec: impl Into<String>, timescale: u32) -> FragmentMeta {
        FragmentMeta {
            codec: codec.into(),
            timescale,
            init_segment: None,
        }
    }

    pub fn with_init_segment(mut self, init: Bytes) -> FragmentMeta {
        self.init_segment = Some(init);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructor_and_builders() {
        let f = Fragment::new(
            VIDEO_TRACK,
            3,
            1,
            0,
            3000,
            3000,
            1000,
            FragmentFlags::DELTA,
            Bytes::from(vec![0xAB; 16]),
        );
        assert_eq!(f.ingest_time_ms, 0);
        assert_eq!(f.payload_len(), 16);
        assert_eq!(f.clone().with_ingest_time_ms(7).ingest_time_ms, 7);
        let flags = |f: FragmentFlags| (f.keyframe, f.independent, f.discardable);
        assert_eq!(flags(FragmentFlags::KEYFRAME), (true, true, false));
        assert_eq!(flags(FragmentFlags::AUDIO), (false, true, false));
        assert_eq!(
            flags(FragmentFlags::DELTA_DISCARDABLE),
            (false, false, true)
        );
        assert_eq!(flags(FragmentFlags::DELTA), (false, false, false));
        let m = FragmentMeta::new("avc1.64001f", VIDEO_TIMESCALE)
            .with_init_segment(Bytes::from_static(b"moov"));
        assert_eq!(m.init_segment.as_deref(), Some(&b"moov"[..]));
    }
}
