//! The transcode contract's drain clauses (L2: quiescent drains = live
//! tracks x ladder; R1: removed entries' drains end), judged from outside
//! the runner: by the runtime's own count of live tasks ([`alive_tasks`]),
//! never by the runner's task table, its stats or its trace.
//!
//! A drain is one task (the upstream's "one task per rendition"), so after
//! every edit, once the runner settled, the tasks alive beyond the count
//! before the runner existed must be exactly the live video tracks times
//! the renditions in the ladder; once every entry is gone, none. A drain
//! the table forgot, or one left running for a removed rendition or entry,
//! shows here even when the runner's own bookkeeping agrees with itself.

use crate::support::alive_tasks;
use crate::transcode_runner::{frag, passthrough, remove_during_build, settle, video_meta};
use relaysim_core::transcode::fragment::{FragmentMeta, AUDIO_TRACK, VIDEO_TRACK};
use relaysim_core::transcode::{
    default_ladder, preset_240p, preset_480p, FragmentBroadcasterRegistry,
    PassthroughTranscoderFactory, TranscodeRunner, TranscodeRunnerHandle,
};
use relaysim_core::BugSet;

/// After the runner settled: the tasks alive beyond `base` are `want`.
async fn drains_alive(what: &str, base: usize, want: usize, h: &TranscodeRunnerHandle) {
    settle().await;
    let drains = alive_tasks()
        .checked_sub(base)
        .expect("fewer tasks alive than before the runner existed");
    assert_eq!(
        drains,
        want,
        "{what}: {drains} drain task(s) alive, the ladder wants {want}; the runner says {:?}",
        h.running()
    );
}

#[tokio::test(start_paused = true)]
async fn drain_tasks_follow_the_ladder_through_every_edit_and_end_with_their_entries() {
    let base = alive_tasks();
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_ladder(default_ladder(), PassthroughTranscoderFactory::new)
        .install(&registry);
    drains_alive("installed, nothing published", base, 0, &h).await;

    let a = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    let b = registry.get_or_create("live/b", VIDEO_TRACK, video_meta());
    // Audio opts out of every rendition.
    let _a_audio = registry.get_or_create(
        "live/a",
        AUDIO_TRACK,
        FragmentMeta::new("mp4a.40.2", 48_000),
    );
    for i in 0..3 {
        a.emit(frag(i));
        b.emit(frag(i));
    }
    drains_alive("two tracks x three renditions", base, 6, &h).await;

    assert_eq!(h.remove_rendition("480p"), 2);
    drains_alive("480p removed", base, 4, &h).await;
    assert!(h.add_rendition(passthrough(preset_480p())));
    drains_alive("480p added back", base, 6, &h).await;

    drop(b);
    registry.remove("live/b", VIDEO_TRACK);
    drains_alive("live/b unpublished", base, 3, &h).await;
    let b = registry.get_or_create("live/b", VIDEO_TRACK, video_meta());
    b.emit(frag(10));
    drains_alive("live/b re-published", base, 6, &h).await;

    assert_eq!(h.remove_rendition("240p"), 2);
    assert_eq!(h.remove_rendition("720p"), 2);
    drains_alive("only 480p left", base, 2, &h).await;

    drop((a, b));
    registry.remove("live/a", VIDEO_TRACK);
    registry.remove("live/b", VIDEO_TRACK);
    registry.remove("live/a", AUDIO_TRACK);
    drains_alive("everything unpublished", base, 0, &h).await;
}

/// The drain tasks alive after `remove_during_build` (a 720p + 480p
/// ladder, `remove_rendition("480p")` landing inside the build of 480p).
async fn drains_after_a_removal_during_the_build(bugs: BugSet) -> usize {
    remove_during_build(bugs).await.2
}

#[tokio::test(start_paused = true)]
async fn a_rendition_removed_during_its_build_leaves_no_drain_task() {
    assert_eq!(
        drains_after_a_removal_during_the_build(BugSet::NONE).await,
        1
    );
}

#[cfg(feature = "known-bugs")]
#[tokio::test(start_paused = true)]
async fn rendition_remove_leak_leaves_a_drain_task_for_the_removed_rendition() {
    use relaysim_core::KnownBug;
    let bugs = BugSet::only(KnownBug::RenditionRemoveLeak);
    assert_eq!(drains_after_a_removal_during_the_build(bugs).await, 2);
}

#[tokio::test(start_paused = true)]
async fn a_lone_240p_drain_is_one_task() {
    let base = alive_tasks();
    let registry = FragmentBroadcasterRegistry::new();
    let h = TranscodeRunner::new()
        .with_factory(PassthroughTranscoderFactory::new(preset_240p()))
        .install(&registry);
    let live = registry.get_or_create("live/a", VIDEO_TRACK, video_meta());
    live.emit(frag(0));
    drains_alive("one track, one rendition", base, 1, &h).await;
}
