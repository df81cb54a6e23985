//! The session controller's catalog step, sans-IO: what changed between the
//! tracks it serves and a new catalog.
//!
//! Owns [`diff`]. Pure: no clock, no I/O; the controller acts on its
//! result and the proptest state machine drives it directly.

use crate::session::pads::wire::{Catalog, TrackInfo};
use std::collections::BTreeMap;

/// One change, in the order the controller must act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackChange {
    /// The track left the catalog: end its pump (EOS, then drop its pad).
    Removed(TrackInfo),
    /// Same track, new codec configuration (caps change mid-stream).
    ConfigChanged { before: TrackInfo, after: TrackInfo },
    /// A new track: create its pad, subscribe, start its pump.
    Added(TrackInfo),
}

/// Removals first (name order), then config changes, then additions, so a
/// pad name freed by a removal is free before anything is created. A track
/// whose kind or codec changed is a removal plus an addition (new pad
/// template, new decoder); only a bumped `config` is a caps change.
pub fn diff(current: &BTreeMap<String, TrackInfo>, next: &Catalog) -> Vec<TrackChange> {
    let next_by_name: BTreeMap<&str, &TrackInfo> =
        next.tracks.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    let mut added = Vec::new();
    for (name, cur) in current {
        match next_by_name.get(name.as_str()) {
            None => removed.push(TrackChange::Removed(cur.clone())),
            Some(n) if n.kind != cur.kind || n.codec != cur.codec => {
                removed.push(TrackChange::Removed(cur.clone()));
                added.push(TrackChange::Added((*n).clone()));
            }
            Some(n) if n.config != cur.config => changed.push(TrackChange::ConfigChanged {
                before: cur.clone(),
                after: (*n).clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, n) in &next_by_name {
        if !current.contains_key(*name) {
            added.push(TrackChange::Added((*n).clone()));
        }
    }
    removed.into_iter().chain(changed).chain(added).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::pads::wire::MediaKind;

    fn t(name: &str, kind: MediaKind, config: u32) -> TrackInfo {
        TrackInfo {
            name: name.into(),
            kind,
            codec: if kind == MediaKind::Video {
                "h264"
            } else {
                "opus"
            }
            .into(),
            config,
        }
    }

    #[test]
    fn removals_then_changes_then_additions() {
        let mut cur = BTreeMap::new();
        cur.insert("cam".to_string(), t("cam", MediaKind::Video, 1));
        cur.insert("mic".to_string(), t("mic", MediaKind::Audio, 1));
        let next = Catalog {
            version: 2,
            tracks: vec![
                t("cam", MediaKind::Video, 2),
                t("screen", MediaKind::Video, 1),
            ],
        };
        let changes = diff(&cur, &next);
        assert_eq!(
            changes,
            vec![
                TrackChange::Removed(t("mic", MediaKind::Audio, 1)),
                TrackChange::ConfigChanged {
                    before: t("cam", MediaKind::Video, 1),
                    after: t("cam", MediaKind::Video, 2)
                },
                TrackChange::Added(t("screen", MediaKind::Video, 1)),
            ]
        );
        assert!(diff(&BTreeMap::new(), &Catalog::default()).is_empty());
    }

    /// One catalog step per rule of `diff`: an unchanged track is no
    /// change; a bumped config alone is a caps change; a new codec or a new
    /// kind (alone or together) is a removal plus an addition; a track
    /// missing is a removal, a new one an addition.
    #[test]
    fn each_rule_of_diff() {
        let cam = |codec: &str, kind, config| TrackInfo {
            codec: codec.into(),
            ..t("cam", kind, config)
        };
        let served = |t: TrackInfo| BTreeMap::from([(t.name.clone(), t)]);
        let catalog = |tracks| Catalog { version: 2, tracks };
        let now = cam("h264", MediaKind::Video, 1);
        assert_eq!(
            diff(&served(now.clone()), &catalog(vec![now.clone()])),
            vec![]
        );
        let bumped = cam("h264", MediaKind::Video, 2);
        assert_eq!(
            diff(&served(now.clone()), &catalog(vec![bumped.clone()])),
            vec![TrackChange::ConfigChanged {
                before: now.clone(),
                after: bumped
            }]
        );
        for next in [
            cam("av1", MediaKind::Video, 1),
            cam("h264", MediaKind::Audio, 1),
            cam("opus", MediaKind::Audio, 2),
        ] {
            assert_eq!(
                diff(&served(now.clone()), &catalog(vec![next.clone()])),
                vec![TrackChange::Removed(now.clone()), TrackChange::Added(next)]
            );
        }
        assert_eq!(
            diff(&served(now.clone()), &catalog(vec![])),
            vec![TrackChange::Removed(now.clone())]
        );
        assert_eq!(
            diff(&BTreeMap::new(), &catalog(vec![now.clone()])),
            vec![TrackChange::Added(now)]
        );
    }

    #[test]
    fn a_new_kind_is_a_new_pad() {
        let mut cur = BTreeMap::new();
        cur.insert("x".to_string(), t("x", MediaKind::Video, 1));
        let next = Catalog {
            version: 2,
            tracks: vec![t("x", MediaKind::Audio, 1)],
        };
        let changes = diff(&cur, &next);
        assert!(matches!(changes[0], TrackChange::Removed(_)));
        assert!(matches!(changes[1], TrackChange::Added(_)));
    }
}
