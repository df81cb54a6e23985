//! The ws world: `ws-client` (the simulated plugin) ↔ `ws-server` (the real
//! `relaysim_core::session::ws` server over `SimNet`).
//!
//! Owns host names, the server and client settings of the ws scenarios, the
//! segmenting that makes turmoil's window a byte budget, and the mapping of
//! the family's faults to the client (exhaustive: a new fault kind does not
//! compile until it is applied).

use super::fault::Fault;
use super::peers::client::{self, ClientConfig, WsClient};
use super::peers::idler::{self, Idler};
use super::{KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT, MSS, PROGRESS_INTERVAL};
use relaysim_core::session::ws::{serve_ws, ServerStats, WsConfig};
use relaysim_core::sync::AtomicU64;
use relaysim_core::{BugSet, Emitter};
use relaysim_harness::check::Facts;
use relaysim_harness::scenario::{World, WorldCtx};
use relaysim_harness::segment::SegmentedNet;
use relaysim_harness::SimNet;
use std::sync::Arc;
use std::time::Duration;

pub const CLIENT: &str = "ws-client";
pub const SERVER: &str = "ws-server";
/// The idler of `ws-phases`.
pub const IDLER: &str = "ws-idler";
/// Every host of the world (what a plan's network faults may name).
pub const HOSTS: &[&str] = &[CLIENT, SERVER];
/// Every host of the `ws-phases` world.
pub const PHASES_HOSTS: &[&str] = &[CLIENT, SERVER, IDLER];
/// `ws-phases`: the plugin gives a connection up after this long without
/// a byte from the server (which sends a slice every 0.5 s and a ping
/// every 2 s).
pub const PHASES_IDLE_TIMEOUT: Duration = Duration::from_secs(6);

/// The server every ws scenario runs (seed-systems.md §1 timings, keepalive
/// scaled from websockets' 20 s / 20 s to 2 s / 4 s so a run holds several
/// deadlines).
pub fn server_config(bugs: BugSet, seed: u64) -> WsConfig {
    let mut cfg = WsConfig::new(&format!("0.0.0.0:{}", client::PORT), bugs, seed);
    cfg.keepalive_interval = KEEPALIVE_INTERVAL;
    cfg.keepalive_timeout = KEEPALIVE_TIMEOUT;
    cfg
}

pub fn client_config(seed: u64) -> ClientConfig {
    ClientConfig {
        server: format!("{SERVER}:{}", client::PORT),
        params_interval: Duration::from_millis(50),
        progress_interval: PROGRESS_INTERVAL,
        reconnect_delay: Duration::from_millis(500),
        mss: MSS,
        seed,
        idle_timeout: None,
        trace_connects: false,
    }
}

pub struct WsWorld {
    client: Arc<WsClient>,
    stats: Arc<ServerStats>,
    idler: Option<Arc<Idler>>,
}

pub fn build(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    let cfg = server_config(ctx.bugs, ctx.seed.0);
    Box::new(build_with(sim, ctx, cfg, client_config(ctx.seed.0), MSS))
}

/// The `ws-phases` server's session cap for `seed`: one on most seeds (the
/// idler is refused while the plugin is connected: the refusal's handshake
/// deadline), two on about a third (the idler's silent connection is
/// accepted as a session, and the session's own handshake deadline runs
/// out).
pub fn phases_max_sessions(seed: u64) -> usize {
    let mut rng = relaysim_core::entropy::SimRng::fork(seed, "ws-phases/max-sessions");
    if rng.chance(0.3) {
        2
    } else {
        1
    }
}

/// The `ws-phases` world: a server capped at [`phases_max_sessions`], a
/// plugin that traces its connects and gives up a silent connection after
/// [`PHASES_IDLE_TIMEOUT`], and the idler.
pub fn build_phases(
    sim: &mut relaysim_harness::engine::Sim,
    ctx: &WorldCtx,
) -> Box<dyn World<Fault>> {
    let mut cfg = server_config(ctx.bugs, ctx.seed.0);
    cfg.max_sessions = phases_max_sessions(ctx.seed.0);
    let client = ClientConfig {
        idle_timeout: Some(PHASES_IDLE_TIMEOUT),
        trace_connects: true,
        ..client_config(ctx.seed.0)
    };
    let mut world = build_with(sim, ctx, cfg, client, MSS);
    let idler = Idler::new(
        IDLER,
        format!("{SERVER}:{}", client::PORT),
        ctx.recorder.clone(),
    );
    let i = idler.clone();
    sim.host(IDLER, move || idler::serve(i.clone()));
    world.idler = Some(idler);
    Box::new(world)
}

fn build_with(
    sim: &mut relaysim_harness::engine::Sim,
    ctx: &WorldCtx,
    cfg: WsConfig,
    client_cfg: ClientConfig,
    mss: usize,
) -> WsWorld {
    let rec = ctx.recorder.clone();
    let stats = ServerStats::new();
    let (server_rec, server_stats) = (rec.clone(), stats.clone());
    sim.host(SERVER, move || {
        let (cfg, stats) = (cfg.clone(), server_stats.clone());
        let emitter = Emitter::new(SERVER, server_rec.clone());
        async move {
            serve_ws(SegmentedNet::new(SimNet, mss), cfg, emitter, stats).await?;
            Ok(())
        }
    });
    let plugin = WsClient::new(CLIENT, client_cfg, rec);
    let c = plugin.clone();
    sim.host(CLIENT, move || client::serve(c.clone()));
    WsWorld {
        client: plugin,
        stats,
        idler: None,
    }
}

impl World<Fault> for WsWorld {
    fn apply(&mut self, fault: &Fault) {
        // Every fault is a plugin action: the client plays each kind.
        match fault {
            Fault::Upload { .. }
            | Fault::SwapServer
            | Fault::OrphanHeader { .. }
            | Fault::TextForBinary { .. }
            | Fault::MissingPayload { .. }
            | Fault::LatePayload { .. }
            | Fault::StrayPayload { .. }
            | Fault::UnknownCommand
            | Fault::Stall { .. } => self.client.apply(fault.clone()),
            Fault::Idle { upgrade, hold_ms } => {
                if let Some(idler) = &self.idler {
                    idler.apply(*upgrade, *hold_ms);
                }
            }
        }
    }

    /// Client faults are one-shot; network faults are healed by the runner.
    fn heal(&mut self) {}

    fn facts(&self) -> Facts {
        let get = |v: &AtomicU64| ServerStats::get(v).to_string();
        let mut f = Facts::new();
        let (commands, answered) = self.client.commands();
        f.set("client.connections", self.client.connections());
        f.set("client.connected", self.client.connected());
        f.set("client.commands", commands);
        f.set("client.answered", answered);
        f.set("server.sessions", get(&self.stats.sessions_opened));
        f.set("server.open", get(&self.stats.sessions_open));
        f.set("server.keepalive_kills", get(&self.stats.keepalive_kills));
        f.set("server.swaps", get(&self.stats.swaps));
        f.set("server.answers", get(&self.stats.answers));
        f.set("server.slices_shed", get(&self.stats.slices_shed));
        f.set("server.peak_queued", get(&self.stats.peak_queued));
        f
    }
}
