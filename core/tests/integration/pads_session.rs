//! One MoQ session (session.rs, pump.rs) against a relay the test scripts
//! message by message, through the real element (`MoqSrc`), main loop and
//! pumps, on paused time:
//!
//! - the controller's resubscription rule (`Controller::pump_ended`, pads
//!   L5): a track whose subscription the relay ended while the session's
//!   catalog still lists it is subscribed again at once when a catalog
//!   newer than the one it was subscribed under lists it (a removal and
//!   re-add the relay's catalog updates coalesced), and otherwise only once
//!   a newer catalog arrives, so a stale catalog never makes it loop;
//! - a pump behind a stalled main loop: its queue's depth reported at each
//!   new multiple of `DEPTH_REPORT_STEP`, the pump blocked at the bound
//!   (S1) and unblocked once the main loop is free, every frame delivered;
//! - the end of a removed and re-added track's old pump, heard after its
//!   new pump is live, never touches the new one (L5);
//! - a relay refusing the catalog: the session's one error carries its
//!   reason (S5);
//! - the fault point `pads.track.read` (with the `fault-points` feature):
//!   switched on, a track read fails under a frame and the session reports
//!   its one error.

use crate::support::{Events, MemNet};
use futures_util::{SinkExt, StreamExt};
use relaysim_core::session::pads::element::CountingDownstream;
use relaysim_core::session::pads::wire::{
    decode, encode, Catalog, MediaKind, RelayMessage, RelayRequest, TrackInfo, WireFrame,
};
use relaysim_core::session::pads::QUEUE_CAPACITY;
use relaysim_core::session::pads::{BusMessage, MoqSrc, PadsConfig};
use relaysim_core::Emitter;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// One subscription the relay accepted: what (`catalog` or a track) and
/// the test's handle to send on it.
pub(crate) struct Sub {
    pub(crate) what: String,
    pub(crate) tx: mpsc::UnboundedSender<RelayMessage>,
}

/// A relay that accepts every subscription, hands it to the test and sends
/// exactly what the test tells it to.
pub(crate) fn scripted_relay() -> (MemNet, mpsc::UnboundedReceiver<Sub>) {
    let (subs_tx, subs) = mpsc::unbounded_channel();
    let net = MemNet::spawning(64 * 1024, move |stream| {
        let subs_tx = subs_tx.clone();
        async move {
            let mut conn = Framed::new(stream, LengthDelimitedCodec::new());
            let Some(Ok(first)) = conn.next().await else {
                return;
            };
            let what = match decode::<RelayRequest>(&first) {
                Ok(RelayRequest::SubscribeCatalog { .. }) => "catalog".to_string(),
                Ok(RelayRequest::SubscribeTrack { track, .. }) => track,
                Err(_) => return,
            };
            let (tx, mut rx) = mpsc::unbounded_channel();
            if subs_tx.send(Sub { what, tx }).is_err() {
                return;
            }
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => {
                            if conn.send(encode(&m).unwrap()).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    },
                    r = conn.next() => if r.is_none() { return },
                }
            }
        }
    });
    (net, subs)
}

pub(crate) fn catalog(version: u64, tracks: &[&str]) -> RelayMessage {
    RelayMessage::Catalog(Catalog {
        version,
        tracks: tracks
            .iter()
            .map(|name| TrackInfo {
                name: name.to_string(),
                kind: MediaKind::Video,
                codec: "h264".into(),
                config: 1,
            })
            .collect(),
    })
}

pub(crate) fn frame(seq: u64) -> RelayMessage {
    RelayMessage::Frame(WireFrame {
        seq,
        ts_ms: seq * 33,
        keyframe: seq == 0,
        config: 1,
    })
}

/// An element started over a scripted relay: the element, its bus, the
/// relay's further subscriptions, and the catalog subscription it made.
pub(crate) struct Started {
    pub(crate) src: Arc<MoqSrc<MemNet>>,
    pub(crate) bus: mpsc::UnboundedReceiver<BusMessage>,
    pub(crate) subs: mpsc::UnboundedReceiver<Sub>,
    pub(crate) cat: Sub,
}

pub(crate) async fn started(downstream: Arc<CountingDownstream>, emitter: Emitter) -> Started {
    let (net, mut subs) = scripted_relay();
    let (src, bus) = MoqSrc::new(
        net,
        PadsConfig::new("moq-relay:4443", "live"),
        downstream,
        emitter,
    );
    src.start();
    let cat = next_sub(&mut subs).await.expect("the catalog subscription");
    assert_eq!(cat.what, "catalog");
    Started {
        src,
        bus,
        subs,
        cat,
    }
}

/// The next subscription within 1 s, if any.
pub(crate) async fn next_sub(subs: &mut mpsc::UnboundedReceiver<Sub>) -> Option<Sub> {
    tokio::time::timeout(Duration::from_secs(1), subs.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::test(start_paused = true)]
async fn a_track_the_relay_ended_is_subscribed_again_only_from_a_newer_catalog() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let events = Events::new();
        let Started {
            src,
            bus: _bus,
            mut subs,
            cat,
        } = started(
            Arc::new(CountingDownstream::default()),
            Emitter::new("gst", events.clone()),
        )
        .await;
        cat.tx.send(catalog(1, &["cam"])).unwrap();
        let cam = next_sub(&mut subs)
            .await
            .expect("cam subscribed from catalog 1");
        assert_eq!(cam.what, "cam");
        cam.tx.send(frame(0)).unwrap();

        // Rule 1: the relay ends cam's subscription while catalog 2 (newer
        // than cam's catalog 1) lists it: cam is subscribed again at once.
        cat.tx.send(catalog(2, &["cam"])).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        cam.tx.send(RelayMessage::TrackEnded).unwrap();
        let again = next_sub(&mut subs)
            .await
            .expect("cam, ended while a newer catalog lists it, was not subscribed again");
        assert_eq!(again.what, "cam");
        again.tx.send(frame(0)).unwrap();
        assert!(
            events
                .lines()
                .iter()
                .any(|l| l == "pads.track.resubscribe session=1 track=cam"),
            "the resubscription is traced: {:?}",
            events.lines()
        );

        // Rule 2: ended again with no catalog newer than catalog 2 (the one
        // it was subscribed under): no subscription until one comes.
        again.tx.send(RelayMessage::TrackEnded).unwrap();
        if let Some(s) = next_sub(&mut subs).await {
            panic!(
                "{} subscribed again under the catalog it ended under",
                s.what
            );
        }
        cat.tx.send(catalog(3, &["cam"])).unwrap();
        let third = next_sub(&mut subs)
            .await
            .expect("cam was not subscribed again from the newer catalog 3");
        assert_eq!(third.what, "cam");
        assert_eq!(src.session(), Some(1), "the session lived through it all");
        assert!(src.stop().await);
    })
    .await
    .expect("the resubscription test hangs");
}

#[tokio::test(start_paused = true)]
async fn a_pump_behind_a_stalled_main_loop_reports_its_depth_blocks_at_the_bound_and_delivers_all()
{
    tokio::time::timeout(Duration::from_secs(60), async {
        let events = Events::new();
        let downstream = Arc::new(CountingDownstream::default());
        let Started {
            src,
            bus: _bus,
            mut subs,
            cat,
        } = started(downstream.clone(), Emitter::new("gst", events.clone())).await;
        cat.tx.send(catalog(1, &["cam"])).unwrap();
        let cam = next_sub(&mut subs).await.expect("cam subscribed");
        tokio::time::sleep(Duration::from_millis(10)).await;

        // The main loop is busy for a second while 40 frames arrive: caps
        // and 40 buffers, 41 messages for a queue of 32.
        src.stall_main_loop(Duration::from_secs(1));
        let frames = 40;
        for seq in 0..frames {
            cam.tx.send(frame(seq)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(downstream.counts().get("video_cam"), None, "delivered during the stall");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(
            downstream.counts()["video_cam"],
            (1, frames),
            "(caps, buffers) delivered once the main loop was free"
        );
        // Again: the queue fills to the bound a second time, a depth it
        // reached before (reported only the first time).
        src.stall_main_loop(Duration::from_secs(1));
        for seq in frames..2 * frames {
            cam.tx.send(frame(seq)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(downstream.counts()["video_cam"], (1, 2 * frames));
        let pump: Vec<String> = events.lines_of(&["pads.queue.", "pads.pump."]);
        assert_eq!(
            pump,
            [
                "pads.queue.depth session=1 pad=video_cam depth=16".to_string(),
                format!("pads.queue.depth session=1 pad=video_cam depth={QUEUE_CAPACITY}"),
                format!("pads.pump.blocked session=1 pad=video_cam depth={QUEUE_CAPACITY}"),
                "pads.pump.unblocked session=1 pad=video_cam".to_string(),
                format!("pads.pump.blocked session=1 pad=video_cam depth={QUEUE_CAPACITY}"),
                "pads.pump.unblocked session=1 pad=video_cam".to_string(),
            ],
            "each new multiple of 16 reported once, blocked at the bound, unblocked after each stall"
        );
        assert!(src.stop().await);
    })
    .await
    .expect("the stalled-pump test hangs");
}

#[tokio::test(start_paused = true)]
async fn the_end_of_a_re_added_track_s_old_pump_never_touches_its_new_one() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let events = Events::new();
        let Started {
            src,
            mut bus,
            mut subs,
            cat,
        } = started(
            Arc::new(CountingDownstream::default()),
            Emitter::new("gst", events.clone()),
        )
        .await;
        cat.tx.send(catalog(1, &["cam"])).unwrap();
        let _cam1 = next_sub(&mut subs)
            .await
            .expect("cam subscribed from catalog 1");
        // cam leaves and comes back in two catalogs back to back: its first
        // pump ends (EOS, drop) while its second is being set up, and the
        // controller hears of that end only after the second is live.
        cat.tx.send(catalog(2, &[])).unwrap();
        cat.tx.send(catalog(3, &["cam"])).unwrap();
        let cam2 = next_sub(&mut subs)
            .await
            .expect("cam subscribed from catalog 3");
        assert_eq!(cam2.what, "cam");
        cam2.tx.send(frame(0)).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A later catalog adds mic: cam is still served by its second pump,
        // so only mic is new.
        cat.tx.send(catalog(4, &["cam", "mic"])).unwrap();
        // (held: dropping a subscription's handle closes it)
        let mic = next_sub(&mut subs).await;
        assert_eq!(
            mic.as_ref().map(|s| s.what.as_str()),
            Some("mic"),
            "catalog 4 brought no mic subscription; the session said {:?}",
            events.lines_of(&["pads.error", "pads.pad."])
        );
        assert!(
            next_sub(&mut subs).await.is_none(),
            "a subscription no catalog asked for"
        );
        if let Ok(e) = bus.try_recv() {
            panic!("the session errored: {e:?}");
        }
        assert!(src.stop().await);
        let stop: Vec<String> = events.lines_of(&["pads.stop."]);
        assert_eq!(
            stop,
            [
                "pads.stop.begin session=1 pads=2",
                "pads.stop.done session=1 removed=2"
            ],
            "stop found cam's and mic's pads and removed both"
        );
    })
    .await
    .expect("the re-added-track test hangs");
}

#[tokio::test(start_paused = true)]
async fn the_relay_s_refusal_reaches_the_application_with_its_reason() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let Started {
            src,
            mut bus,
            subs: _subs,
            cat,
        } = started(
            Arc::new(CountingDownstream::default()),
            Emitter::tracing_only("gst"),
        )
        .await;
        cat.tx
            .send(RelayMessage::Error {
                status: 503,
                reason: "relay unavailable".into(),
            })
            .unwrap();
        let error = tokio::time::timeout(Duration::from_secs(1), bus.recv())
            .await
            .expect("no error on the bus within 1 s")
            .expect("the bus closed");
        assert_eq!(
            error,
            BusMessage::Error {
                session: 1,
                error: "catalog: relay unavailable".into()
            }
        );
        assert!(src.stop().await);
    })
    .await
    .expect("the refusal test hangs");
}

/// The component's fault point (pads module docs): switched on, a pump's
/// track read fails under a frame and the session reports its one error.
#[cfg(feature = "fault-points")]
#[tokio::test(start_paused = true)]
async fn the_track_read_fault_point_fails_the_pump_under_a_frame() {
    use relaysim_core::faults;
    // The table is this thread's; the test runtime runs every task here.
    faults::install(7);
    faults::set("pads.track.read", 1.0);
    let outcome = tokio::time::timeout(Duration::from_secs(60), async {
        let Started {
            src,
            mut bus,
            mut subs,
            cat,
        } = started(
            Arc::new(CountingDownstream::default()),
            Emitter::tracing_only("gst"),
        )
        .await;
        cat.tx.send(catalog(1, &["cam"])).unwrap();
        let cam = next_sub(&mut subs).await.expect("cam subscribed");
        cam.tx.send(frame(0)).unwrap();
        let error = tokio::time::timeout(Duration::from_secs(1), bus.recv())
            .await
            .expect("no error on the bus within 1 s of the frame")
            .expect("the bus closed");
        assert!(src.stop().await);
        error
    })
    .await;
    faults::uninstall();
    assert_eq!(
        outcome.expect("the fault-point test hangs"),
        BusMessage::Error {
            session: 1,
            error: "video_cam: track read: connection reset".into()
        }
    );
}
