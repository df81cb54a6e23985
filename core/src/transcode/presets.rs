//! Rendition presets and the default ladder.
//!
//! Owns [`RenditionSpec`] and the three presets of the upstream ladder
//! (seed-systems.md §2.2). Plain data.

use serde::{Deserialize, Serialize};

/// One rung of a ladder: a named output size and bitrate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RenditionSpec {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub video_bitrate_kbps: u32,
    pub audio_bitrate_kbps: u32,
}

impl RenditionSpec {
    pub fn new(
        name: impl Into<String>,
        width: u32,
        height: u32,
        video_bitrate_kbps: u32,
        audio_bitrate_kbps: u32,
    ) -> RenditionSpec {
        RenditionSpec {
            name: name.into(),
            width,
            height,
            video_bitrate_kbps,
            audio_bitrate_kbps,
        }
    }
}

pub fn preset_720p() -> RenditionSpec {
    RenditionSpec::new("720p", 1280, 720, 2_500, 128)
}

pub fn preset_480p() -> RenditionSpec {
    RenditionSpec::new("480p", 854, 480, 1_200, 96)
}

pub fn preset_240p() -> RenditionSpec {
    RenditionSpec::new("240p", 426, 240, 400, 64)
}

/// 720p, 480p, 240p: highest first.
pub fn default_ladder() -> Vec<RenditionSpec> {
    vec![preset_720p(), preset_480p(), preset_240p()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_upstream() {
        let p = preset_720p();
        assert_eq!(
            (
                p.width,
                p.height,
                p.video_bitrate_kbps,
                p.audio_bitrate_kbps
            ),
            (1280, 720, 2_500, 128)
        );
        let p = preset_480p();
        assert_eq!(
            (
                p.width,
                p.height,
                p.video_bitrate_kbps,
                p.audio_bitrate_kbps
            ),
            (854, 480, 1_200, 96)
        );
        let p = preset_240p();
        assert_eq!(
            (
                p.width,
                p.height,
                p.video_bitrate_kbps,
                p.audio_bitrate_kbps
            ),
            (426, 240, 400, 64)
        );
    }

    #[test]
    fn default_ladder_is_highest_first() {
        let l = default_ladder();
        let names: Vec<&str> = l.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["720p", "480p", "240p"]);
        assert!(l
            .windows(2)
            .all(|w| w[0].video_bitrate_kbps > w[1].video_bitrate_kbps));
        let json = serde_json::to_string(&l[0]).unwrap();
        assert_eq!(serde_json::from_str::<RenditionSpec>(&json).unwrap(), l[0]);
    }
}
