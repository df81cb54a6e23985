//! The restream world: `obs` → `relay` → {`twitch-ingest`, `youtube-ingest`,
//! `kick-ingest`}, with `twitch-api` answering the relay's VOD fetches.
//!
//! Owns host names, the relay's destination configuration and the mapping
//! from the family's faults to peers (exhaustive: a new fault kind does not
//! compile until it is applied). The relay host runs the real
//! `relaysim_core::restream` over `SimNet`.

use super::fault::Fault;
use super::peers::ingest_sink::{self, IngestSink};
use super::peers::obs::{self, Publisher};
use super::peers::twitch_api::{self, TwitchApi};
use relaysim_core::restream::relay::{relay_handle, RelayHandle};
use relaysim_core::restream::{run_relay, DestinationConfig, Platform, RelayConfig};
use relaysim_core::Emitter;
use relaysim_harness::check::Facts;
use relaysim_harness::scenario::{World, WorldCtx};
use relaysim_harness::SimNet;
use std::sync::{Arc, Mutex};

pub const OBS: &str = "obs";
pub const RELAY: &str = "relay";
pub const TWITCH_API: &str = "twitch-api";
pub const TWITCH_INGEST: &str = "twitch-ingest";
pub const YOUTUBE_INGEST: &str = "youtube-ingest";
pub const KICK_INGEST: &str = "kick-ingest";
/// Every host of the world (what a plan's network faults may name).
pub const HOSTS: &[&str] = &[
    OBS,
    RELAY,
    TWITCH_API,
    TWITCH_INGEST,
    YOUTUBE_INGEST,
    KICK_INGEST,
];

/// In `vod-phases` (blackholes on OBS's link), OBS drops a connection the
/// relay has said nothing on for this long (see
/// `Publisher::set_read_timeout`).
pub const OBS_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The relay's ingest key, which OBS publishes with.
pub const INGEST_KEY: &str = "obs_key";
/// The Twitch stream key (also in every IVS URL).
pub const TWITCH_KEY: &str = "live_twitch_key";

/// Where the relay's peers are: the Twitch API and the three platform
/// ingests, as `host:port` authorities. The simulated world names hosts;
/// a run on real sockets names loopback ports.
#[derive(Debug, Clone)]
pub struct Peers {
    /// The Twitch API.
    pub twitch_api: String,
    /// Twitch's, YouTube's and Kick's ingests, in that order.
    pub ingests: [String; 3],
}

impl Peers {
    /// The simulated world's hosts.
    pub fn simulated() -> Peers {
        Peers {
            twitch_api: format!("{TWITCH_API}:{}", twitch_api::PORT),
            ingests: [TWITCH_INGEST, YOUTUBE_INGEST, KICK_INGEST]
                .map(|h| format!("{h}:{}", ingest_sink::PORT)),
        }
    }
}

/// The relay's destinations: Twitch with VOD audio, YouTube, Kick.
pub fn destinations(peers: &Peers) -> Vec<DestinationConfig> {
    let [twitch, youtube, kick] = &peers.ingests;
    vec![
        DestinationConfig::new(
            "kick",
            Platform::Kick,
            &format!("rtmp://{kick}/app"),
            "kick_key",
        ),
        DestinationConfig::twitch("twitch", &format!("rtmp://{twitch}/app"), TWITCH_KEY, true),
        DestinationConfig::new(
            "youtube",
            Platform::YouTube,
            &format!("rtmp://{youtube}/live2"),
            "yt_key",
        ),
    ]
}

/// The relay's configuration in every restream world: ingest key, Twitch
/// API, destinations, the run's bugs.
pub fn relay_config(peers: &Peers, bugs: relaysim_core::BugSet) -> RelayConfig {
    let mut cfg = RelayConfig::new(INGEST_KEY, &peers.twitch_api, destinations(peers));
    cfg.bugs = bugs;
    cfg
}

pub struct RestreamWorld {
    twitch: Arc<TwitchApi>,
    sinks: Vec<Arc<IngestSink>>,
    publisher: Arc<Publisher>,
    relay: Arc<Mutex<Option<RelayHandle>>>,
}

/// Registers every host; the publisher starts disconnected (the plan
/// connects it).
pub fn build(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    build_with(sim, ctx, false)
}

/// The same world, its peers also recording what they see of each
/// connection's phases (`obs.dial`/`obs.connected`, `sink.accept`,
/// `twitch.accept`/`twitch.request`/`twitch.close`): `vod-phases`.
pub fn build_phases(
    sim: &mut relaysim_harness::engine::Sim,
    ctx: &WorldCtx,
) -> Box<dyn World<Fault>> {
    build_with(sim, ctx, true)
}

fn build_with(
    sim: &mut relaysim_harness::engine::Sim,
    ctx: &WorldCtx,
    phases: bool,
) -> Box<dyn World<Fault>> {
    let rec = ctx.recorder.clone();
    let peers = Peers::simulated();
    let twitch = TwitchApi::new(ctx.seed.0, rec.clone(), &peers.ingests[0]);
    if phases {
        twitch.record_phases();
    }
    let t = twitch.clone();
    sim.host(TWITCH_API, move || twitch_api::serve(t.clone()));

    let mut sinks = Vec::new();
    for host in [TWITCH_INGEST, YOUTUBE_INGEST, KICK_INGEST] {
        let sink = IngestSink::new(host, rec.clone());
        if phases {
            sink.record_phases();
        }
        let s = sink.clone();
        sim.host(host, move || ingest_sink::serve(s.clone()));
        sinks.push(sink);
    }

    let cfg = relay_config(&peers, ctx.bugs);
    let slot: Arc<Mutex<Option<RelayHandle>>> = Arc::new(Mutex::new(None));
    let relay_slot = slot.clone();
    let relay_rec = rec.clone();
    sim.host(RELAY, move || {
        let cfg = cfg.clone();
        let handle = relay_handle(&cfg, Emitter::new(RELAY, relay_rec.clone()));
        *relay_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle.clone());
        async move {
            run_relay(SimNet, cfg, handle).await?;
            Ok(())
        }
    });

    let publisher = Publisher::new(&format!("{RELAY}:1935"), INGEST_KEY, rec);
    if phases {
        publisher.record_phases();
        publisher.set_read_timeout(OBS_READ_TIMEOUT);
    }
    let p = publisher.clone();
    sim.host(OBS, move || obs::serve(p.clone()));

    Box::new(RestreamWorld {
        twitch,
        sinks,
        publisher,
        relay: slot,
    })
}

impl RestreamWorld {
    fn set_silent(&self, host: &str, silent: bool) {
        match host {
            TWITCH_API => self.twitch.set_silent(silent),
            OBS => self.publisher.set_silent(silent),
            // `Fault::validate` admits only the world's hosts.
            _ => {
                for sink in self.sinks.iter().filter(|s| s.host == host) {
                    sink.set_silent(silent);
                }
            }
        }
    }
}

impl World<Fault> for RestreamWorld {
    fn apply(&mut self, fault: &Fault) {
        match fault {
            Fault::TwitchLatency { min_ms, max_ms } => self.twitch.set_latency(*min_ms, *max_ms),
            Fault::TwitchErrors { percent } => self.twitch.set_errors(*percent),
            Fault::PublisherDisconnect => self.publisher.set_wanted(false),
            Fault::PublisherConnect => self.publisher.set_wanted(true),
            Fault::Silent { host } => self.set_silent(host, true),
            Fault::Speak { host } => self.set_silent(host, false),
        }
    }

    fn heal(&mut self) {
        self.twitch.heal();
        for sink in &self.sinks {
            sink.set_silent(false);
        }
        self.publisher.set_silent(false);
        self.publisher.set_wanted(true);
    }

    fn facts(&self) -> Facts {
        let mut f = Facts::new();
        f.set("obs.wanted", self.publisher.wanted());
        f.set("obs.connections", self.publisher.connections());
        f.set("obs.frames_sent", self.publisher.frames_sent());
        f.set("twitch.allocated", self.twitch.allocated().len());
        for sink in &self.sinks {
            let streams = sink.streams();
            let frames: u64 = streams.iter().map(|s| s.frames).sum();
            f.set(format!("{}.streams", sink.host), streams.len());
            f.set(format!("{}.frames", sink.host), frames);
            if let Some(t) = sink.last_frame_at() {
                f.set(format!("{}.last_frame_ms", sink.host), t.as_millis() as u64);
            }
            if let Some(last) = streams.last() {
                f.set(format!("{}.last_url", sink.host), last.url.clone());
            }
            // Each stream's media span as the sink saw it, in arrival order:
            // `FIRST_MS-LAST_MS`, or `-` for a stream that carried no frame.
            let spans: Vec<String> = streams
                .iter()
                .map(|s| match (s.first_frame_at, s.last_frame_at) {
                    (Some(a), Some(b)) => format!("{}-{}", a.as_millis(), b.as_millis()),
                    _ => "-".into(),
                })
                .collect();
            f.set(format!("{}.frame_spans", sink.host), spans);
        }
        if let Some(relay) = self
            .relay
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let ctl = &relay.controller;
            f.set("relay.ingest_alive", ctl.ingest_alive());
            f.set("relay.publisher_token", ctl.publisher_token());
            for d in ctl.destination_states() {
                let id = d.id();
                f.set(format!("relay.{id}.epoch"), d.session_epoch());
                f.set(format!("relay.{id}.latch"), d.vod_fetch_pending());
                f.set(format!("relay.{id}.override"), d.override_url());
            }
        }
        f
    }
}
