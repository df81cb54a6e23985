//! The lvqr world: one host, `lvqr`, running the **published, unmodified**
//! `lvqr-fragment` 1.1.0 registry and `lvqr-transcode` 1.1.0
//! `TranscodeRunner`, driven only through their public API by relaysim's
//! peers (an ingest per broadcast, the admin API, relaysim's own
//! factories).
//!
//! Owns the host and broadcast names, the rendition pool and ladder, the
//! two exposure switches (the family's known bugs) and the mapping from
//! the family's faults to peers (exhaustive: a new fault kind does not
//! compile until it is applied).
//!
//! The switches choose how the *caller* uses the crate, never the crate's
//! code (there is nothing to switch in it):
//!
//! - `lvqr-rendition-remove-leak` on: admin edits race publishes (a
//!   pending edit lands inside the entry-created callback's factory
//!   build). Off: the caller serializes edits with publishes — an edit
//!   waits out any running callback — the workaround open to a 1.1.0 user.
//! - `lvqr-republish-never-transcoded` on: a re-publish reuses the
//!   broadcast's name, as LVQR's ingest bridges do. Off: the caller names
//!   each session apart (`live/a~s2`), the workaround open to a 1.1.0
//!   user.

use super::fault::Fault;
use super::peers::admin::{Admin, AdminOp};
use super::peers::factories::{InjectedPanic, Kind, PanicArm};
use super::peers::ingest::Ingest;
use super::peers::{Shared, HOST};
use super::{LvqrBugs, TICK};
use lvqr_fragment::FragmentBroadcasterRegistry;
use lvqr_transcode::{RenditionSpec, TranscodeRunner, TranscodeRunnerHandle, TranscoderFactory};
use relaysim_core::entropy::SimRng;
use relaysim_harness::check::Facts;
use relaysim_harness::scenario::{World, WorldCtx};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

/// Every host of the world.
pub const HOSTS: &[&str] = &[HOST];
/// The broadcasts the ingest publishes.
pub const BROADCASTS: &[&str] = &["live/a", "live/b", "live/c"];
/// The ladder `install` registers, in order.
pub const LADDER: &[&str] = &["720p", "480p", "240p"];

/// The renditions the admin API may add or remove, and their factory
/// kinds (`480p` is the slow one).
pub fn rendition_pool() -> Vec<(&'static str, RenditionSpec)> {
    vec![
        ("720p", RenditionSpec::preset_720p()),
        ("480p", RenditionSpec::preset_480p()),
        ("240p", RenditionSpec::preset_240p()),
        ("360p", RenditionSpec::new("360p", 640, 360, 800, 96)),
    ]
}

fn spec(name: &str) -> RenditionSpec {
    rendition_pool()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("rendition {name:?} is not in the pool"))
}

fn kind(name: &str, work: Duration) -> Kind {
    if name == "480p" {
        Kind::Slow { work }
    } else {
        Kind::Passthrough
    }
}

/// The slow transcoder's simulated work per fragment for `seed`: slower
/// than the 100 ms frame interval, so its worker queue fills.
pub fn slow_work(seed: u64) -> Duration {
    let mut rng = SimRng::fork(seed, "lvqr-ladder-churn/work");
    rng.millis(Duration::from_millis(150), Duration::from_millis(400))
}

/// Injected panics unwind through the crate's `catch_unwind` by design:
/// keep the default hook quiet about them (any other panic still prints).
fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<InjectedPanic>().is_none() {
                previous(info);
            }
        }));
    });
}

/// A running lvqr world.
pub struct LvqrWorld {
    ingests: Vec<Arc<Ingest>>,
    admin: Arc<Admin>,
    panics: Arc<PanicArm>,
    work: Duration,
    runner: Arc<Mutex<Option<TranscodeRunnerHandle>>>,
}

/// Registers the `lvqr` host.
pub fn build(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    quiet_injected_panics();
    let shared = Shared::new(ctx.recorder.clone());
    let panics = PanicArm::new();
    let races_publishes = ctx.bugs.on(LvqrBugs::RenditionRemoveLeak);
    let same_name = ctx.bugs.on(LvqrBugs::RepublishNeverTranscoded);
    let admin = Admin::new(shared.clone(), panics.clone(), races_publishes);
    let work = slow_work(ctx.seed.0);
    let ingests: Vec<Arc<Ingest>> = BROADCASTS
        .iter()
        .map(|&b| Ingest::new(b, same_name))
        .collect();
    let runner: Arc<Mutex<Option<TranscodeRunnerHandle>>> = Arc::new(Mutex::new(None));

    let (h_shared, h_admin, h_ingests, h_runner) =
        (shared, admin.clone(), ingests.clone(), runner.clone());
    sim.host(HOST, move || {
        let registry = FragmentBroadcasterRegistry::new();
        // Installed before the runner's callback and after it: they mark
        // which entry's callbacks are running (callbacks run in
        // installation order, synchronously, on the creating thread).
        let s = h_shared.clone();
        registry.on_entry_created(move |name, track, _| s.enter_callback(name, track));
        let mut builder = TranscodeRunner::new();
        let mut ladder = Vec::new();
        for name in LADDER {
            let f = h_admin.factory(spec(name), kind(name, work));
            ladder.push((f.instance(), name.to_string()));
            let f: Arc<dyn TranscoderFactory> = Arc::new(f);
            builder = builder.with_factory_arc(f);
        }
        let handle = builder.install(&registry);
        let s = h_shared.clone();
        registry.on_entry_created(move |_, _, _| s.leave_callback());
        h_admin.attach(handle.clone(), ladder);
        *h_runner.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);

        let (shared, admin, ingests) = (h_shared.clone(), h_admin.clone(), h_ingests.clone());
        async move {
            relaysim_core::rt::spawn(shared.clone().flusher(TICK));
            relaysim_core::rt::spawn(admin.serve());
            for i in ingests {
                relaysim_core::rt::spawn(i.serve(registry.clone(), shared.clone()));
            }
            std::future::pending::<()>().await;
            Ok(())
        }
    });

    Box::new(LvqrWorld {
        ingests,
        admin,
        panics,
        work,
        runner,
    })
}

impl LvqrWorld {
    fn ingest(&self, broadcast: &str) -> &Ingest {
        self.ingests
            .iter()
            .find(|i| i.broadcast() == broadcast)
            .unwrap_or_else(|| {
                panic!("the plan names broadcast {broadcast:?}; the world has {BROADCASTS:?}")
            })
    }
}

impl World<Fault> for LvqrWorld {
    fn apply(&mut self, fault: &Fault) {
        match fault {
            Fault::BroadcastPublish { broadcast } => self.ingest(broadcast).set_wanted(true),
            Fault::BroadcastUnpublish { broadcast } => self.ingest(broadcast).set_wanted(false),
            Fault::RenditionAdd {
                rendition,
                window_ms,
            } => self.admin.submit(
                AdminOp::Add(spec(rendition), kind(rendition, self.work)),
                Duration::from_millis(*window_ms),
            ),
            Fault::RenditionRemove {
                rendition,
                window_ms,
            } => self.admin.submit(
                AdminOp::Remove(rendition.clone()),
                Duration::from_millis(*window_ms),
            ),
            Fault::TranscoderPanic {
                rendition,
                broadcast,
                phase,
                after,
            } => self.panics.arm(rendition, broadcast, *phase, *after),
        }
    }

    fn heal(&mut self) {
        self.panics.disarm_all();
        for i in &self.ingests {
            i.set_wanted(true);
        }
    }

    fn facts(&self) -> Facts {
        let mut f = Facts::new();
        for i in &self.ingests {
            f.set(
                format!("{}.live", i.broadcast()),
                i.live().map(|(name, s)| format!("{name}#{s}")),
            );
        }
        let registered: Vec<String> = self
            .admin
            .registered()
            .into_iter()
            .map(|(i, r)| format!("{r}#{i}"))
            .collect();
        f.set("admin.registered", registered);
        // The crate's own bookkeeping, for the reader (no check trusts it).
        if let Some(h) = self
            .runner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let ladder: Vec<String> = h.renditions().into_iter().map(|r| r.name).collect();
            f.set("crate.renditions", ladder);
            let mut tracked: Vec<String> = h
                .tracked()
                .into_iter()
                .map(|(t, r, b, tr)| format!("{t}/{r}:{b}/{tr}"))
                .collect();
            tracked.sort();
            f.set("crate.tracked", tracked);
        }
        f
    }
}
