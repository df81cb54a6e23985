//! `relaysim bench`: where the time goes, as ratios measured in one run.
//!
//! Owns the benchmark figures: per-scenario seeds/s and simulated seconds
//! per wall second on one core; the harness's overhead against the same
//! world with trace capture and checks off, and against a bare-turmoil world
//! exchanging the same messages; each known bug's seeds and wall time to
//! first detection (median over disjoint seed ranges); a restream and a ws
//! scenario on `TokioNet` over loopback in real time with their timings
//! scaled down, beside the simulation; and the loom models' run time. This is the one
//! place outside the runner that reads the wall clock, and it only measures:
//! no figure here is ever asserted by a test.

use crate::catalog::{all, find, find_bug_scenario};
use crate::restream::{self, world};
use crate::ws;
use relaysim_core::restream::relay::{relay_handle, run_relay_on};
use relaysim_core::restream::{DestinationConfig, Platform, RelayConfig, RestreamEvent};
use relaysim_core::session::ws::{self as ws_server, ServerStats};
use relaysim_core::{BugSet, Emitter, KnownBug, Net, TokioNet};
use relaysim_harness::check::{Check, RunView, Verdict};
use relaysim_harness::fault::{Fault, FaultPlan};
use relaysim_harness::peers::ws_client::{self, ClientConfig, ResetWatch, WsClient};
use relaysim_harness::peers::{ingest_sink, publisher, twitch_api};
use relaysim_harness::runner::{run_seed, RunOptions};
use relaysim_harness::trace::{EntryKind, Recorder, Trace, WorldEvent};
use relaysim_harness::{Scenario, Seed};
use serde_json::json;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Seeds per scenario for throughput and overhead.
    pub seeds: u64,
    /// Disjoint seed ranges per known bug for time-to-detection.
    pub detect_ranges: u64,
    /// Seeds per detection range.
    pub detect_range_len: u64,
    /// Real-time comparison: timings divided by this.
    pub realtime_scale: u32,
    /// Time the loom step (builds it with cargo on first use).
    pub loom: bool,
    pub json: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            seeds: 40,
            detect_ranges: 10,
            detect_range_len: 50,
            realtime_scale: 20,
            loom: true,
            json: false,
        }
    }
}

#[allow(clippy::disallowed_methods)] // benchmarks measure wall time by definition
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Wall seconds to run `seeds` of `scn` on this thread with `opts`.
fn time_seeds(scn: &Scenario, seeds: u64, opts: &RunOptions) -> (f64, f64) {
    let never = AtomicBool::new(false);
    let start = now();
    let mut sim = 0.0;
    for s in 0..seeds {
        sim += run_seed(scn, Seed(s), opts, &never).sim_time.as_secs_f64();
    }
    (start.elapsed().as_secs_f64(), sim)
}

/// One scenario's throughput on one core.
#[derive(Debug, Clone)]
pub struct Throughput {
    pub scenario: &'static str,
    pub seeds: u64,
    pub wall_s: f64,
    pub sim_s: f64,
    /// Same seeds, trace capture and checks off.
    pub bare_wall_s: f64,
}

impl Throughput {
    pub fn seeds_per_s(&self) -> f64 {
        self.seeds as f64 / self.wall_s
    }
    pub fn sim_per_wall(&self) -> f64 {
        self.sim_s / self.wall_s
    }
    pub fn overhead_vs_bare_harness(&self) -> f64 {
        self.wall_s / self.bare_wall_s
    }
}

pub fn throughput(scn: &'static Scenario, seeds: u64) -> Throughput {
    let (wall_s, sim_s) = time_seeds(scn, seeds, &RunOptions::default());
    let (bare_wall_s, _) = time_seeds(
        scn,
        seeds,
        &RunOptions {
            capture: false,
            checks: false,
            ..RunOptions::default()
        },
    );
    Throughput {
        scenario: scn.name,
        seeds,
        wall_s,
        sim_s,
        bare_wall_s,
    }
}

/// The restream world's traffic on bare turmoil: the same hosts, tick,
/// links and duration; OBS sends 10 frames/s of the same size to the relay,
/// which forwards each to three ingests; every 2 s the relay makes one
/// request/response round trip to the API. No core, no harness, no trace.
pub fn bare_turmoil_restream(seed: u64) -> f64 {
    use futures_util::{SinkExt, StreamExt};
    use tokio_util::codec::{Framed, LengthDelimitedCodec};
    let scn = &restream::VOD_SLOW_TWITCH;
    let mut sim = relaysim_harness::runner::sim_for(scn, Seed(seed));
    for host in [
        world::TWITCH_INGEST,
        world::YOUTUBE_INGEST,
        world::KICK_INGEST,
    ] {
        sim.host(host, || async {
            let l = turmoil::net::TcpListener::bind(("0.0.0.0", 1935)).await?;
            loop {
                let (s, _) = l.accept().await?;
                tokio::spawn(async move {
                    let mut f = Framed::new(s, LengthDelimitedCodec::new());
                    while let Some(Ok(_)) = f.next().await {}
                });
            }
        });
    }
    sim.host(world::TWITCH_API, || async {
        let l = turmoil::net::TcpListener::bind(("0.0.0.0", 80)).await?;
        loop {
            let (s, _) = l.accept().await?;
            tokio::spawn(async move {
                let mut f = Framed::new(s, LengthDelimitedCodec::new());
                if let Some(Ok(_)) = f.next().await {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let _ = f.send(bytes::Bytes::from_static(&[7u8; 120])).await;
                }
            });
        }
    });
    sim.host(world::RELAY, || async {
        let l = turmoil::net::TcpListener::bind(("0.0.0.0", 1935)).await?;
        tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if let Ok(s) = turmoil::net::TcpStream::connect((world::TWITCH_API, 80)).await {
                    let mut f = Framed::new(s, LengthDelimitedCodec::new());
                    let _ = f.send(bytes::Bytes::from_static(&[1u8; 100])).await;
                    let _ = f.next().await;
                }
            }
        });
        let (s, _) = l.accept().await?;
        let mut input = Framed::new(s, LengthDelimitedCodec::new());
        let mut outs = Vec::new();
        for host in [
            world::TWITCH_INGEST,
            world::YOUTUBE_INGEST,
            world::KICK_INGEST,
        ] {
            let s = turmoil::net::TcpStream::connect((host, 1935)).await?;
            outs.push(Framed::new(s, LengthDelimitedCodec::new()));
        }
        while let Some(Ok(frame)) = input.next().await {
            let frame = frame.freeze();
            for o in &mut outs {
                o.send(frame.clone()).await?;
            }
        }
        Ok(())
    });
    sim.host(world::OBS, || async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let s = turmoil::net::TcpStream::connect((world::RELAY, 1935)).await?;
        let mut out = Framed::new(s, LengthDelimitedCodec::new());
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            out.send(bytes::Bytes::from_static(&[0xAB; 50])).await?;
        }
    });
    let start = now();
    while sim.elapsed() < scn.duration {
        if sim.step().is_err() {
            break;
        }
    }
    start.elapsed().as_secs_f64()
}

/// One known bug's time to first detection.
#[derive(Debug, Clone)]
pub struct DetectionBench {
    pub bug: KnownBug,
    pub scenario: &'static str,
    /// Per range: (seeds tried, wall ms), `None` when not caught.
    pub ranges: Vec<Option<(u64, f64)>>,
}

impl DetectionBench {
    pub fn median_wall_ms(&self) -> f64 {
        median(self.ranges.iter().flatten().map(|r| r.1).collect())
    }
    pub fn median_seeds(&self) -> f64 {
        median(self.ranges.iter().flatten().map(|r| r.0 as f64).collect())
    }
    pub fn caught(&self) -> usize {
        self.ranges.iter().flatten().count()
    }
}

pub fn detection(bug: KnownBug, ranges: u64, len: u64) -> DetectionBench {
    let scn = find_bug_scenario(bug);
    let never = AtomicBool::new(false);
    let opts = RunOptions {
        bugs: BugSet::only(bug),
        ..RunOptions::default()
    };
    let mut out = Vec::new();
    for r in 0..ranges {
        let start = now();
        let mut found = None;
        for (i, s) in (r * len..(r + 1) * len).enumerate() {
            if run_seed(scn, Seed(s), &opts, &never).failure.is_some() {
                found = Some((i as u64 + 1, start.elapsed().as_secs_f64() * 1000.0));
                break;
            }
        }
        out.push(found);
    }
    DetectionBench {
        bug,
        scenario: scn.name,
        ranges: out,
    }
}

/// One sanity fact of a real-time run: evidence that the scaled run did the
/// scenario's work (printed beside the timing; asserted by tests, unlike the
/// timing itself).
#[derive(Debug, Clone)]
pub struct Fact {
    /// Its key in the JSON line.
    pub key: &'static str,
    /// Its wording in the human line.
    pub human: String,
    pub value: serde_json::Value,
}

impl Fact {
    fn new(key: &'static str, human: String, value: impl Into<serde_json::Value>) -> Fact {
        Fact {
            key,
            human,
            value: value.into(),
        }
    }
}

/// A scenario on real sockets in real time.
#[derive(Debug, Clone)]
pub struct RealTime {
    pub scenario: &'static str,
    pub seed: Seed,
    pub scale: u32,
    /// Wall time of the scaled run.
    pub wall_s: f64,
    /// The scenario's simulated length (what an unscaled run would take).
    pub scenario_s: f64,
    /// The same seed in the simulator, one core (median of a few runs).
    pub sim_wall_s: f64,
    /// Faults of the plan that loopback cannot apply (network faults).
    pub skipped_faults: usize,
    /// What the run did, in print order.
    pub facts: Vec<Fact>,
}

impl RealTime {
    /// Wall time an unscaled real-time run would take, over the simulator's.
    pub fn acceleration(&self) -> f64 {
        self.scenario_s / self.sim_wall_s
    }

    /// The value of the fact `key`.
    pub fn fact(&self, key: &str) -> Option<&serde_json::Value> {
        self.facts.iter().find(|f| f.key == key).map(|f| &f.value)
    }
}

async fn bind_loopback() -> std::io::Result<(tokio::net::TcpListener, u16)> {
    let l = TokioNet.bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    Ok((l, port))
}

/// Runs of the seed in the simulator whose median wall time the real-time
/// run is compared with (a single run was seen to vary 2x between bench
/// runs).
const SIM_REPEATS: usize = 5;

/// What every real-time run shares: a two-worker tokio runtime, the seed's
/// plan, the scale, one recorder, and the simulator's wall time for the
/// same seed (median of [`SIM_REPEATS`] runs, measured first, on this
/// thread).
struct RealTimeRun {
    scn: &'static Scenario,
    seed: Seed,
    rt: tokio::runtime::Runtime,
    k: u32,
    plan: FaultPlan,
    sim_wall_s: f64,
    recorder: Arc<Recorder>,
}

impl RealTimeRun {
    fn new(scn: &'static Scenario, seed: Seed, scale: u32) -> Result<RealTimeRun, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
        let never = AtomicBool::new(false);
        let sim_wall_s = median(
            (0..SIM_REPEATS)
                .map(|_| {
                    let start = now();
                    run_seed(scn, seed, &RunOptions::default(), &never);
                    start.elapsed().as_secs_f64()
                })
                .collect(),
        );
        Ok(RealTimeRun {
            scn,
            seed,
            rt,
            k: scale.max(1),
            plan: (scn.plan)(seed),
            sim_wall_s,
            recorder: Recorder::new(),
        })
    }

    fn div(&self, d: Duration) -> Duration {
        d / self.k
    }

    /// Plays the plan in real time, scaled: each fault before the heal goes
    /// to `apply` at its scaled time (`false`: loopback cannot apply it, and
    /// it is counted as skipped); `heal` runs at the scaled heal, and faults
    /// past it are dropped, as in the simulator. Returns at the scaled end
    /// with (wall seconds, faults skipped).
    async fn play(
        &self,
        mut apply: impl FnMut(&Fault) -> bool,
        heal: impl FnOnce(),
    ) -> (f64, usize) {
        let start = tokio::time::Instant::now();
        let heal_at = self.div(self.scn.heal_at);
        let mut skipped = 0;
        for e in self
            .plan
            .events
            .iter()
            .take_while(|e| self.div(e.at()) < heal_at)
        {
            tokio::time::sleep_until(start + self.div(e.at())).await;
            if !apply(&e.fault) {
                skipped += 1;
            }
        }
        tokio::time::sleep_until(start + heal_at).await;
        heal();
        tokio::time::sleep_until(start + self.div(self.scn.duration)).await;
        (start.elapsed().as_secs_f64(), skipped)
    }

    /// Stops the runtime (its tasks run forever) and reports, with the
    /// sanity facts `facts` reads off the trace.
    fn finish(
        self,
        played: std::io::Result<(f64, usize)>,
        facts: impl FnOnce(&Trace) -> Vec<Fact>,
    ) -> Result<RealTime, String> {
        let (wall_s, skipped_faults) = played.map_err(|e| format!("real-time run failed: {e}"))?;
        self.rt.shutdown_timeout(Duration::from_millis(200));
        let facts = facts(&self.recorder.snapshot());
        Ok(RealTime {
            scenario: self.scn.name,
            seed: self.seed,
            scale: self.k,
            wall_s,
            scenario_s: self.scn.duration.as_secs_f64(),
            sim_wall_s: self.sim_wall_s,
            skipped_faults,
            facts,
        })
    }
}

/// Runs restream scenario `scn` seed `seed` (application faults only) on
/// tokio over 127.0.0.1 with every timing divided by `scale`. Facts: the
/// VOD session was applied, and every ingest was streamed to.
pub fn realtime_restream(
    scn: &'static Scenario,
    seed: Seed,
    scale: u32,
) -> Result<RealTime, String> {
    let run = RealTimeRun::new(scn, seed, scale)?;
    let k = run.k;
    let div = |d: Duration| run.div(d);
    let recorder = &run.recorder;
    let played: std::io::Result<(f64, usize)> = run.rt.block_on(async {
        let (api_l, api_port) = bind_loopback().await?;
        let mut sink_ports = Vec::new();
        let mut sinks = Vec::new();
        for host in [
            world::TWITCH_INGEST,
            world::YOUTUBE_INGEST,
            world::KICK_INGEST,
        ] {
            let (l, port) = bind_loopback().await?;
            let sink = ingest_sink::IngestSink::new(host, recorder.clone());
            tokio::spawn(ingest_sink::serve_on(l, sink.clone()));
            sink_ports.push(port);
            sinks.push(sink);
        }
        let api = twitch_api::TwitchApi::new(
            seed.0,
            recorder.clone(),
            &format!("127.0.0.1:{}", sink_ports[0]),
        );
        tokio::spawn(twitch_api::serve_on(api_l, api.clone()));

        let dests = vec![
            DestinationConfig::new(
                "kick",
                Platform::Kick,
                &format!("rtmp://127.0.0.1:{}/app", sink_ports[2]),
                "kick_key",
            ),
            DestinationConfig::twitch(
                "twitch",
                &format!("rtmp://127.0.0.1:{}/app", sink_ports[0]),
                world::TWITCH_KEY,
                true,
            ),
            DestinationConfig::new(
                "youtube",
                Platform::YouTube,
                &format!("rtmp://127.0.0.1:{}/live2", sink_ports[1]),
                "yt_key",
            ),
        ];
        let mut cfg = RelayConfig::new(world::INGEST_KEY, &format!("127.0.0.1:{api_port}"), dests);
        cfg.tick = div(cfg.tick);
        cfg.shutdown_grace = div(cfg.shutdown_grace);
        cfg.twitch_timeouts.connect = div(cfg.twitch_timeouts.connect);
        cfg.twitch_timeouts.total = div(cfg.twitch_timeouts.total);
        cfg.twitch_timeouts.outer = div(cfg.twitch_timeouts.outer);
        let (relay_l, relay_port) = bind_loopback().await?;
        let handle = relay_handle(&cfg, Emitter::new(world::RELAY, recorder.clone()));
        tokio::spawn(run_relay_on(TokioNet, relay_l, cfg, handle));
        let obs = publisher::Publisher::new_scaled(
            &format!("127.0.0.1:{relay_port}"),
            world::INGEST_KEY,
            recorder.clone(),
            k,
        );
        tokio::spawn(publisher::serve_on(TokioNet, obs.clone()));

        let apply = |fault: &Fault| {
            match fault {
                Fault::TwitchLatency { min_ms, max_ms } => {
                    api.set_latency(min_ms / u64::from(k), max_ms / u64::from(k))
                }
                Fault::TwitchErrors { percent } => api.set_errors(*percent),
                Fault::PublisherConnect => obs.set_wanted(true),
                Fault::PublisherDisconnect => obs.set_wanted(false),
                _ => return false,
            }
            true
        };
        let heal = || {
            api.heal();
            obs.set_wanted(true);
        };
        Ok(run.play(apply, heal).await)
    });
    run.finish(played, |trace| {
        let vod_applied = trace.entries.iter().any(|e| {
            matches!(
                e.event::<RestreamEvent>(),
                Some(RestreamEvent::VodFetchApplied { .. })
            )
        });
        let opened: std::collections::BTreeSet<&str> = trace
            .entries
            .iter()
            .filter(|e| matches!(&e.kind, EntryKind::World(WorldEvent::SinkOpen { .. })))
            .map(|e| e.host)
            .collect();
        let every_ingest = opened.len() == 3;
        vec![
            Fact::new(
                "vod_applied",
                format!("VOD session applied: {vod_applied}"),
                vod_applied,
            ),
            Fact::new(
                "every_ingest_streamed",
                format!("every ingest streamed: {every_ingest}"),
                every_ingest,
            ),
        ]
    })
}

/// Runs ws scenario `scn` seed `seed` on tokio over 127.0.0.1: the real ws
/// server and the plugin peer, every timing (server, plugin, plan) divided
/// by `scale`, payload sizes kept. The bench runs `ws-bulk-crossfire`: the
/// family's slowest scenario in the simulator (its cost is the multi-MB
/// byte traffic, which loopback moves natively), and the one whose plan is
/// all application faults, so nothing is skipped and the real run is the
/// whole scenario. Facts: commands answered in order, uploads and pushes
/// byte-identical, bytes moved, keepalive kills and connections (a wedge
/// shows as a kill and a reconnect). They say the run did the scenario's
/// work, not that the fix holds: loopback's socket buffers grow to several
/// MB, so even with `bulk-send-starves-recv` on, seed 0 does not wedge
/// there (tried at scales 20 and 40); the simulator's 512 KiB window is
/// what exposes it.
pub fn realtime_ws(scn: &'static Scenario, seed: Seed, scale: u32) -> Result<RealTime, String> {
    let run = RealTimeRun::new(scn, seed, scale)?;
    let k = run.k;
    let (listener, port) = run
        .rt
        .block_on(bind_loopback())
        .map_err(|e| format!("real-time run failed: {e}"))?;
    let addr = format!("127.0.0.1:{port}");
    let stats = ServerStats::new();
    let mut server_cfg = ws::world::server_config(RunOptions::default().bugs, seed.0).scaled(k);
    server_cfg.listen = addr.clone();
    let client_cfg = ClientConfig {
        server: addr,
        ..ws::world::client_config(seed.0)
    }
    .scaled(k);
    let client = WsClient::new(ws::world::CLIENT, client_cfg, run.recorder.clone());
    let played = run.rt.block_on(async {
        let emitter = Emitter::new(ws::world::SERVER, run.recorder.clone());
        tokio::spawn(ws_server::serve_on(
            listener,
            server_cfg,
            emitter,
            stats.clone(),
        ));
        tokio::spawn(ws_client::serve_on(
            TokioNet,
            client.clone(),
            ResetWatch::WRITE_ERROR,
        ));
        let apply = |fault: &Fault| match fault {
            Fault::Ws(w) => {
                client.apply(w.clone().scaled(k));
                true
            }
            _ => false,
        };
        Ok(run.play(apply, || {}).await)
    });
    run.finish(played, |trace| ws_facts(scn, trace, &client, &stats))
}

/// The sanity facts of a real-time ws run, read off its trace (the ws
/// checks that do not depend on timing, and counts) and the two peers.
fn ws_facts(scn: &Scenario, trace: &Trace, client: &WsClient, stats: &ServerStats) -> Vec<Fact> {
    use relaysim_core::session::ws::WsEvent;
    use relaysim_harness::peers::ws_client::WsClientEvent;
    let facts = relaysim_harness::check::Facts::new();
    let view = RunView {
        trace,
        facts: &facts,
        heal_at: scn.heal_at,
        end: scn.duration,
    };
    let passes = |c: &Check| (c.eval)(&view) == Verdict::Pass;
    let (mut commands, mut answered, mut uploads, mut pushes, mut bytes) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for e in &trace.entries {
        match &e.kind {
            EntryKind::World(WorldEvent::Ws(c)) => match c {
                WsClientEvent::Command { .. } => commands += 1,
                WsClientEvent::Answer { .. } => answered += 1,
                WsClientEvent::Uploaded { bytes: b, .. } => bytes += b,
                WsClientEvent::Push { bytes: b, .. } => {
                    pushes += 1;
                    bytes += b;
                }
                _ => {}
            },
            EntryKind::Core(relaysim_core::Event::Ws(WsEvent::PayloadApplied { .. })) => {
                uploads += 1
            }
            _ => {}
        }
    }
    let in_order = answered == commands && passes(&ws::checks::NO_COMMAND_CONSUMED);
    let identical = passes(&ws::checks::PAYLOADS_BYTE_IDENTICAL);
    let mb = bytes as f64 / (1024.0 * 1024.0);
    let kills = ServerStats::get(&stats.keepalive_kills);
    let connections = client.connections();
    vec![
        Fact::new("commands", format!("{commands} commands"), commands),
        Fact::new(
            "answered_in_order",
            format!("every one answered in order: {in_order}"),
            in_order,
        ),
        Fact::new(
            "uploads_applied",
            format!("{uploads} uploads applied"),
            uploads,
        ),
        Fact::new(
            "pushes_received",
            format!("{pushes} pushes received"),
            pushes,
        ),
        Fact::new(
            "payloads_byte_identical",
            format!("all byte-identical: {identical}"),
            identical,
        ),
        Fact::new("bulk_mib", format!("{mb:.1} MiB moved"), mb),
        Fact::new(
            "keepalive_kills",
            format!("keepalive kills: {kills}"),
            kills,
        ),
        Fact::new(
            "connections",
            format!("connections: {connections}"),
            connections,
        ),
    ]
}

/// The loom step's run times: each model file's test binary, timed alone.
#[derive(Debug, Clone)]
pub struct LoomTimes {
    /// (model file, wall seconds), in file order.
    pub models: Vec<(String, f64)>,
}

impl LoomTimes {
    /// The whole step (every model, one after another).
    pub fn total_s(&self) -> f64 {
        self.models.iter().map(|(_, s)| s).sum()
    }
}

/// Builds the loom models with cargo (from the workspace this binary was
/// built in, into `target/loom`, as `.ci/run` does), then runs each model
/// file's test binary (`core/tests/loom_*.rs`) alone and times it; the
/// build is not timed.
pub fn loom_step() -> Result<LoomTimes, String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let built =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .env("RUSTFLAGS", "--cfg relaysim_loom --cfg tokio_unstable")
            .env("CARGO_TARGET_DIR", root.join("target/loom"))
            .args([
                "test",
                "-p",
                "relaysim-core",
                "--release",
                "--features",
                "known-bugs",
                "--no-run",
                "--message-format=json",
            ])
            .output()
            .map_err(|e| format!("cannot run cargo for the loom step: {e}"))?;
    if !built.status.success() {
        return Err(format!(
            "building the loom models failed: {}",
            String::from_utf8_lossy(&built.stderr)
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
        ));
    }
    // cargo's JSON messages name each test target and its executable.
    let mut binaries: Vec<(String, String)> = String::from_utf8_lossy(&built.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_string();
            let exe = m["executable"].as_str()?.to_string();
            name.starts_with("loom_").then_some((name, exe))
        })
        .collect();
    binaries.sort();
    if binaries.is_empty() {
        return Err("the loom build produced no loom_* test binaries".into());
    }
    let mut models = Vec::new();
    for (name, exe) in binaries {
        let start = now();
        let out = std::process::Command::new(&exe)
            .args(["--quiet", "loom"])
            .output()
            .map_err(|e| format!("cannot run {name}: {e}"))?;
        let secs = start.elapsed().as_secs_f64();
        if !out.status.success() {
            return Err(format!(
                "loom model {name} failed; run the loom step of .ci/run"
            ));
        }
        models.push((name, secs));
    }
    Ok(LoomTimes { models })
}

fn line(json_out: bool, human: String, value: serde_json::Value) {
    if json_out {
        println!("{value}");
    } else {
        println!("{human}");
    }
}

fn print_realtime(j: bool, r: &RealTime) {
    let facts: Vec<&str> = r.facts.iter().map(|f| f.human.as_str()).collect();
    let mut value = json!({"bench": "realtime", "scenario": r.scenario, "scale": r.scale, "wall_s": r.wall_s,
                           "scenario_s": r.scenario_s, "sim_wall_s": r.sim_wall_s, "acceleration": r.acceleration(),
                           "skipped_network_faults": r.skipped_faults});
    for f in &r.facts {
        value[f.key] = f.value.clone();
    }
    line(
        j,
        format!(
            "\n== real time vs simulation ({} seed {}) ==\nTokioNet on 127.0.0.1, timings / {}: {:.2} s wall ({}, {} network faults skipped)\nunscaled real time would take {:.0} s; the simulator runs it in {:.3} s: {:.0}x real time",
            r.scenario,
            r.seed,
            r.scale,
            r.wall_s,
            facts.join(", "),
            r.skipped_faults,
            r.scenario_s,
            r.sim_wall_s,
            r.acceleration()
        ),
        value,
    );
}

/// Runs every benchmark and prints the figures. `Ok(true)` always (targets
/// are reported, never enforced).
pub fn run(opts: &BenchOptions) -> Result<bool, String> {
    let j = opts.json;
    if !j {
        println!("relaysim bench: one core per figure unless noted; ratios from this run only\n");
        println!("== scenarios ({} seeds each, 1 core) ==", opts.seeds);
        println!(
            "{:<26} {:>9} {:>12} {:>14} {:>10}",
            "scenario", "seeds/s", "sim-s/wall-s", "trace+checks", "target"
        );
    }
    let mut worst_rate = f64::INFINITY;
    let mut restream_wall = None;
    for scn in all() {
        let t = throughput(scn, opts.seeds);
        worst_rate = worst_rate.min(t.sim_per_wall());
        if scn.name == "vod-slow-twitch" {
            restream_wall = Some(t.wall_s / t.seeds as f64);
        }
        line(
            j,
            format!(
                "{:<26} {:>9.1} {:>12.0} {:>13.2}x {:>10}",
                t.scenario,
                t.seeds_per_s(),
                t.sim_per_wall(),
                t.overhead_vs_bare_harness(),
                if t.sim_per_wall() >= 5000.0 {
                    "met"
                } else {
                    "NOT met"
                }
            ),
            json!({"bench": "scenario", "scenario": t.scenario, "seeds": t.seeds, "seeds_per_s": t.seeds_per_s(),
                   "sim_s_per_wall_s": t.sim_per_wall(), "overhead_vs_capture_and_checks_off": t.overhead_vs_bare_harness()}),
        );
    }

    // Bare turmoil baseline (restream traffic).
    let n = opts.seeds.clamp(1, 20);
    let start = now();
    for s in 0..n {
        bare_turmoil_restream(s);
    }
    let bare = start.elapsed().as_secs_f64() / n as f64;
    if let Some(full) = restream_wall {
        let ratio = full / bare;
        line(
            j,
            format!(
                "\n== harness overhead ==\nvod-slow-twitch {:.1} ms/seed vs bare turmoil with the same hosts and traffic {:.1} ms/seed: {:.2}x (target <= 1.25x: {})",
                full * 1000.0,
                bare * 1000.0,
                ratio,
                if ratio <= 1.25 { "met" } else { "NOT met" }
            ),
            json!({"bench": "overhead", "scenario": "vod-slow-twitch", "full_ms_per_seed": full * 1000.0,
                   "bare_turmoil_ms_per_seed": bare * 1000.0, "ratio": ratio}),
        );
    }

    if !j {
        println!(
            "\n== time to first detection (median over {} disjoint ranges of {} seeds, 1 core) ==",
            opts.detect_ranges, opts.detect_range_len
        );
        println!(
            "{:<30} {:<26} {:>8} {:>13} {:>8} {:>8}",
            "bug", "scenario", "caught", "median seeds", "ms", "target"
        );
    }
    for bug in KnownBug::ALL {
        let d = detection(*bug, opts.detect_ranges, opts.detect_range_len);
        let ms = d.median_wall_ms();
        line(
            j,
            format!(
                "{:<30} {:<26} {:>5}/{:<2} {:>13.1} {:>8.1} {:>8}",
                bug.id(),
                d.scenario,
                d.caught(),
                d.ranges.len(),
                d.median_seeds(),
                ms,
                if ms <= 100.0 { "met" } else { "NOT met" }
            ),
            json!({"bench": "detection", "bug": bug.id(), "scenario": d.scenario, "ranges": d.ranges.len(),
                   "caught": d.caught(), "median_seeds": d.median_seeds(), "median_wall_ms": ms}),
        );
    }

    type RealTimeFn = fn(&'static Scenario, Seed, u32) -> Result<RealTime, String>;
    let realtime: [(&str, RealTimeFn); 2] = [
        ("vod-slow-twitch", realtime_restream),
        ("ws-bulk-crossfire", realtime_ws),
    ];
    for (name, f) in realtime {
        match f(find(name)?, Seed(0), opts.realtime_scale) {
            Ok(r) => print_realtime(j, &r),
            Err(e) => line(
                j,
                format!("\nreal-time run ({name}): {e}"),
                json!({"bench": "realtime", "scenario": name, "error": e}),
            ),
        }
    }

    if opts.loom {
        match loom_step() {
            Ok(t) => {
                if !j {
                    println!("\n== loom (release, each model file alone) ==");
                }
                for (name, s) in &t.models {
                    line(
                        j,
                        format!("{name:<32} {s:>7.2} s"),
                        json!({"bench": "loom", "model": name, "wall_s": s}),
                    );
                }
                line(
                    j,
                    format!(
                        "{:<32} {:>7.2} s",
                        "the loom step (every model)",
                        t.total_s()
                    ),
                    json!({"bench": "loom", "wall_s": t.total_s()}),
                );
            }
            Err(e) => line(
                j,
                format!("\n== loom ==\n{e}"),
                json!({"bench": "loom", "error": e}),
            ),
        }
    }
    if !j {
        println!(
            "\nslowest scenario: {worst_rate:.0} sim-s/wall-s per core (target >= 5000: {})",
            if worst_rate >= 5000.0 {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    Ok(true)
}
