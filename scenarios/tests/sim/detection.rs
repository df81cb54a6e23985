//! Every known bug is caught within 50 seeds of its scenario's default
//! range, by a check that states what the bug breaks. Together with
//! `scenarios` (every scenario clean with bugs off) this proves both
//! directions for each bug.

use relaysim_core::KnownBug;
use relaysim_scenarios::cli::detect_one;

/// Seeds a bug may take to be caught.
const BUDGET: u64 = 50;

fn expect_caught(bug: KnownBug, checks: &[&str]) {
    let d = detect_one(bug, BUDGET, 2);
    let seed = d
        .first_failing_seed
        .unwrap_or_else(|| panic!("{bug} was NOT caught in {BUDGET} seeds of {}", d.scenario));
    let check = d.check.unwrap_or_default();
    assert!(
        checks.contains(&check.as_str()),
        "{bug} was caught at seed {seed} by `{check}`, expected one of {checks:?}"
    );
}

#[test]
fn vod_fetch_stacking_is_caught() {
    expect_caught(
        KnownBug::VodFetchStacking,
        &["vod-single-flight", "one-ivs-session-per-publish"],
    );
}

#[test]
fn vod_fetch_stale_epoch_is_caught() {
    expect_caught(KnownBug::VodFetchStaleEpoch, &["no-stale-override"]);
}

#[test]
fn vod_latch_leak_is_caught() {
    expect_caught(KnownBug::VodLatchLeak, &["vod-override-eventually"]);
}

#[test]
fn egress_write_stall_is_caught() {
    expect_caught(KnownBug::EgressWriteStall, &["frames-flow-after-heal"]);
}

#[test]
fn rendition_remove_leak_is_caught() {
    // Found by loom first (core/tests/loom_transcode_runner.rs); here by a
    // turmoil seed where the admin API's removal lands inside an
    // entry-created callback.
    expect_caught(KnownBug::RenditionRemoveLeak, &["no-leaked-drain"]);
}

#[test]
fn transcoder_panic_kills_drain_is_caught() {
    expect_caught(KnownBug::TranscoderPanicKillsDrain, &["panics-isolated"]);
}

#[test]
fn republish_never_transcoded_is_caught() {
    expect_caught(KnownBug::RepublishNeverTranscoded, &["no-missed-drain"]);
}

#[test]
fn eos_before_register_is_caught() {
    expect_caught(KnownBug::EosBeforeRegister, &["ended-track-unpublished"]);
}

#[test]
fn pad_queue_unbounded_is_caught() {
    expect_caught(KnownBug::PadQueueUnbounded, &["queue-bounded"]);
}

#[test]
fn stop_drops_flush_is_caught() {
    expect_caught(
        KnownBug::StopDropsFlush,
        &["every-pad-flushed-on-stop", "pad-names"],
    );
}

#[test]
fn bulk_send_starves_recv_is_caught() {
    expect_caught(
        KnownBug::BulkSendStarvesRecv,
        &["command-answered-within", "no-healthy-keepalive-kill"],
    );
}

#[test]
fn buffer_before_caps_is_caught() {
    expect_caught(KnownBug::BufferBeforeCaps, &["caps-before-buffers"]);
}

#[test]
fn orphan_binary_header_is_caught() {
    expect_caught(KnownBug::OrphanBinaryHeader, &["no-command-consumed"]);
}

#[test]
fn every_known_bug_has_a_detection_test() {
    // Keep this list in step with the tests above.
    let tested = [
        KnownBug::VodFetchStacking,
        KnownBug::VodFetchStaleEpoch,
        KnownBug::VodLatchLeak,
        KnownBug::EgressWriteStall,
        KnownBug::RenditionRemoveLeak,
        KnownBug::TranscoderPanicKillsDrain,
        KnownBug::RepublishNeverTranscoded,
        KnownBug::EosBeforeRegister,
        KnownBug::PadQueueUnbounded,
        KnownBug::StopDropsFlush,
        KnownBug::BufferBeforeCaps,
        KnownBug::BulkSendStarvesRecv,
        KnownBug::OrphanBinaryHeader,
    ];
    for b in KnownBug::ALL {
        assert!(tested.contains(b), "add a detection test for {b}");
    }
}
