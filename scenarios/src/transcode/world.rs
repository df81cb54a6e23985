//! The transcode world: publishers `obs-a`, `obs-b`, `obs-c` → the
//! `transcode` host (ingest bridge → registry → runner, plus downstream
//! viewers and the admin API worker).
//!
//! Owns host names, the ladders each scenario installs and the mapping from
//! the family's faults to peers (exhaustive: a new fault kind does not
//! compile until it is applied). The transcode host runs the real
//! `relaysim_core::transcode` (bridge, registry, runner, drains on tokio)
//! over `SimNet`; publishers are the restream family's OBS peer
//! (`crate::restream::peers::obs`), one host and stream key each (`obs-a`
//! publishes `live/a`). The admin API, injected panics and viewers come
//! from [`super::peers::admin`]. A slow transcoder's per-fragment work is
//! drawn from the seed (`SimRng::fork(seed, "transcode-slow-consumer/work")`).

use super::fault::Fault;
use super::peers::admin::{install_viewers, Admin, AdminOp, PanicArm};
use super::peers::encoder::{self, Encoder};
use crate::restream::peers::obs::{self, Publisher};
use relaysim_core::entropy::SimRng;
use relaysim_core::transcode::ingest::{listen_ingest, IngestBridge};
use relaysim_core::transcode::{
    preset_240p, preset_480p, preset_720p, FragmentBroadcasterRegistry,
    PassthroughTranscoderFactory, RenditionSpec, SlowTranscoderFactory, TranscodeRunner,
    TranscodeRunnerHandle, TranscoderFactory,
};
use relaysim_core::Emitter;
use relaysim_harness::check::Facts;
use relaysim_harness::scenario::{World, WorldCtx};
use relaysim_harness::SimNet;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

pub const TRANSCODE: &str = "transcode";
/// Publisher hosts and their stream keys (`obs-a` publishes `live/a`).
pub const PUBLISHERS: [(&str, &str); 3] = [("obs-a", "a"), ("obs-b", "b"), ("obs-c", "c")];
/// The churn world's hosts: the transcode host and every publisher.
pub const CHURN_HOSTS: &[&str] = &[TRANSCODE, "obs-a", "obs-b", "obs-c"];
/// The slow-consumer world's hosts: the transcode host and two publishers.
pub const SLOW_HOSTS: &[&str] = &[TRANSCODE, "obs-a", "obs-b"];
pub const INGEST_PORT: u16 = 1935;
/// The phases world's encoders: a main and a backup encoder of the same
/// stream key (`live/a`), as a broadcaster runs them.
pub const ENCODERS: [(&str, &str); 2] = [("enc-main", "a"), ("enc-backup", "a")];
/// The phases world's hosts.
pub const PHASES_HOSTS: &[&str] = &[TRANSCODE, "enc-main", "enc-backup"];

/// The renditions the admin API may add (the default ladder plus 360p).
pub fn rendition_pool() -> Vec<RenditionSpec> {
    vec![
        preset_720p(),
        preset_480p(),
        preset_240p(),
        RenditionSpec::new("360p", 640, 360, 800, 96),
    ]
}

pub fn rendition(name: &str) -> RenditionSpec {
    rendition_pool()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| RenditionSpec::new(name, 640, 360, 800, 96))
}

/// Which ladder the transcode host installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ladder {
    /// The default 720p/480p/240p ladder of passthrough transcoders that
    /// panic where the plan arms them and offer the admin API its
    /// preemption point in `build`.
    Churn,
    /// A passthrough 720p next to a slow 480p transcoder.
    Slow,
}

/// A world's shape.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub ladder: Ladder,
    /// Broadcaster ring capacity.
    pub capacity: usize,
    /// How many of [`PUBLISHERS`] exist.
    pub publishers: usize,
    /// Whether the [`ENCODERS`] exist.
    pub encoders: bool,
}

/// Injected panics unwind through user code by design: keep the default
/// panic hook quiet about them (any other panic still prints).
fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info
                .payload()
                .downcast_ref::<relaysim_core::transcode::transcoder::InjectedPanic>()
                .is_none()
            {
                previous(info);
            }
        }));
    });
}

struct HostState {
    registry: FragmentBroadcasterRegistry,
    runner: TranscodeRunnerHandle,
    bridge: Arc<IngestBridge>,
}

pub struct TranscodeWorld {
    publishers: Vec<(&'static str, Arc<Publisher>)>,
    encoders: Vec<(&'static str, Arc<Encoder>)>,
    admin: Arc<Admin>,
    panics: Arc<PanicArm>,
    host: Arc<Mutex<Option<HostState>>>,
}

/// The slow transcoder's simulated work per fragment for `seed`: slower
/// than the publisher's 100 ms frame interval, so its drain falls behind.
pub fn slow_work(seed: u64) -> Duration {
    let mut rng = SimRng::fork(seed, "transcode-slow-consumer/work");
    rng.millis(Duration::from_millis(150), Duration::from_millis(600))
}

/// Registers every host of a world shaped by `setup`; publishers start
/// unpublished (the plan publishes them).
pub fn build(
    sim: &mut relaysim_harness::engine::Sim,
    ctx: &WorldCtx,
    setup: Setup,
) -> Box<dyn World<Fault>> {
    quiet_injected_panics();
    let rec = ctx.recorder.clone();
    let panics = PanicArm::new(rec.clone());
    let admin = Admin::new(rec.clone(), panics.clone());
    let host: Arc<Mutex<Option<HostState>>> = Arc::new(Mutex::new(None));
    let bugs = ctx.bugs;
    let work = slow_work(ctx.seed.0);

    let (slot, host_admin, host_rec) = (host.clone(), admin.clone(), rec.clone());
    sim.host(TRANSCODE, move || {
        let registry = FragmentBroadcasterRegistry::with_options(
            setup.capacity,
            Emitter::new(TRANSCODE, host_rec.clone()),
        );
        let factories: Vec<Arc<dyn TranscoderFactory>> = match setup.ladder {
            Ladder::Churn => relaysim_core::transcode::default_ladder()
                .into_iter()
                .map(|spec| host_admin.factory(spec))
                .collect(),
            Ladder::Slow => vec![
                Arc::new(PassthroughTranscoderFactory::new(preset_720p())),
                Arc::new(SlowTranscoderFactory::new(preset_480p(), work)),
            ],
        };
        let mut builder = TranscodeRunner::new().with_bugs(bugs);
        for f in factories {
            builder = builder.with_factory_arc(f);
        }
        let runner = builder.install(&registry);
        host_admin.attach(runner.clone());
        install_viewers(&registry, host_rec.clone());
        let bridge = IngestBridge::new(registry.clone());
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(HostState {
            registry,
            runner,
            bridge: bridge.clone(),
        });
        let admin = host_admin.clone();
        async move {
            relaysim_core::rt::spawn(admin.serve());
            listen_ingest(&SimNet, &format!("0.0.0.0:{INGEST_PORT}"), bridge).await?;
            Ok(())
        }
    });

    let mut publishers = Vec::new();
    for (name, key) in PUBLISHERS.iter().take(setup.publishers) {
        let p = Publisher::named(
            name,
            &format!("{TRANSCODE}:{INGEST_PORT}"),
            key,
            rec.clone(),
        );
        let served = p.clone();
        sim.host(name, move || obs::serve(served.clone()));
        publishers.push((*name, p));
    }

    let mut encoders = Vec::new();
    if setup.encoders {
        for (name, key) in ENCODERS {
            let e = Encoder::new(
                name,
                &format!("{TRANSCODE}:{INGEST_PORT}"),
                key,
                rec.clone(),
            );
            let served = e.clone();
            sim.host(name, move || encoder::serve(served.clone()));
            encoders.push((name, e));
        }
    }

    Box::new(TranscodeWorld {
        publishers,
        encoders,
        admin,
        panics,
        host,
    })
}

impl TranscodeWorld {
    fn publisher(&self, name: &str) -> Option<&Arc<Publisher>> {
        self.publishers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p)
    }

    fn encoder(&self, name: &str) -> Option<&Arc<Encoder>> {
        self.encoders
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e)
    }
}

impl World<Fault> for TranscodeWorld {
    fn apply(&mut self, fault: &Fault) {
        match fault {
            Fault::BroadcastPublish { publisher } => {
                if let Some(p) = self.publisher(publisher) {
                    p.set_wanted(true);
                }
                if let Some(e) = self.encoder(publisher) {
                    e.set_wanted(true);
                }
            }
            Fault::BroadcastUnpublish { publisher } => {
                if let Some(p) = self.publisher(publisher) {
                    p.set_wanted(false);
                }
                if let Some(e) = self.encoder(publisher) {
                    e.set_wanted(false);
                }
            }
            Fault::EncoderMute { encoder, ms } => {
                if let Some(e) = self.encoder(encoder) {
                    e.mute_next(*ms);
                }
            }
            Fault::EncoderPause { encoder, ms } => {
                if let Some(e) = self.encoder(encoder) {
                    e.pause(*ms);
                }
            }
            Fault::RenditionAdd {
                rendition: r,
                window_ms,
            } => self.admin.submit(
                AdminOp::Add(rendition(r)),
                Duration::from_millis(*window_ms),
            ),
            Fault::RenditionRemove {
                rendition: r,
                window_ms,
            } => self.admin.submit(
                AdminOp::Remove(r.clone()),
                Duration::from_millis(*window_ms),
            ),
            Fault::TranscoderPanic {
                rendition,
                phase,
                after,
            } => self.panics.arm(rendition, *phase, *after),
        }
    }

    fn heal(&mut self) {
        self.panics.disarm_all();
        for (_, p) in &self.publishers {
            p.set_wanted(true);
        }
        // The main encoder publishes, the backup stands by; both drop
        // whatever connection they hold (see `peers::encoder`).
        for (i, (_, e)) in self.encoders.iter().enumerate() {
            e.set_wanted(i == 0);
            e.bounce();
        }
    }

    fn facts(&self) -> Facts {
        let mut f = Facts::new();
        for (name, p) in &self.publishers {
            f.set(format!("{name}.wanted"), p.wanted());
            f.set(format!("{name}.connections"), p.connections());
        }
        for (name, e) in &self.encoders {
            f.set(format!("{name}.wanted"), e.wanted());
            f.set(
                format!("{name}.broadcast"),
                relaysim_core::transcode::ingest::broadcast_name(e.key()),
            );
            f.set(format!("{name}.connections"), e.attempts());
        }
        if let Some(h) = self.host.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let running: Vec<String> = h.runner.running().iter().map(|k| k.to_string()).collect();
            f.set("transcode.running", running);
            let ladder: Vec<String> = h.runner.renditions().into_iter().map(|r| r.name).collect();
            f.set("transcode.ladder", ladder);
            f.set("transcode.live", h.bridge.live());
            f.set("transcode.entries", h.registry.len());
            let panics: u64 = h
                .runner
                .tracked()
                .iter()
                .map(|k| {
                    h.runner
                        .panics(&k.transcoder, &k.rendition, &k.broadcast, &k.track)
                })
                .sum();
            f.set("transcode.panics", panics);
        }
        f
    }
}
