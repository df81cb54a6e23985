//! One runnable relay: controller + ingest listener + supervisor, over any
//! `Net`.
//!
//! Owns [`RelayConfig`] and [`run_relay`]. The harness runs this on the
//! simulated `relay` host; a real deployment (or the real-time comparison in
//! `relaysim bench`) runs it on [`crate::net::TokioNet`].

use crate::bugs::BugSet;
use crate::event::Emitter;
use crate::net::Net;
use crate::restream::ingest::serve_ingest;
use crate::restream::supervisor::Supervisor;
use crate::restream::twitch::{TwitchApi, TwitchTimeouts};
use crate::restream::{Controller, DestinationConfig, SHUTDOWN_GRACE, SUPERVISOR_TICK};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Where publishers connect, e.g. `0.0.0.0:1935`.
    pub ingest_listen: String,
    pub ingest_key: String,
    pub destinations: Vec<DestinationConfig>,
    /// The Twitch API, `host:port`.
    pub twitch_api: String,
    pub twitch_timeouts: TwitchTimeouts,
    pub tick: Duration,
    pub shutdown_grace: Duration,
    pub bugs: BugSet,
}

impl RelayConfig {
    pub fn new(
        ingest_key: &str,
        twitch_api: &str,
        destinations: Vec<DestinationConfig>,
    ) -> RelayConfig {
        RelayConfig {
            ingest_listen: "0.0.0.0:1935".into(),
            ingest_key: ingest_key.into(),
            destinations,
            twitch_api: twitch_api.into(),
            twitch_timeouts: TwitchTimeouts::default(),
            tick: SUPERVISOR_TICK,
            shutdown_grace: SHUTDOWN_GRACE,
            bugs: BugSet::NONE,
        }
    }
}

/// What a running relay exposes to its owner: the controller (for final
/// state checks) and the settings channel (to add or remove destinations).
#[derive(Clone)]
pub struct RelayHandle {
    pub controller: Arc<Controller>,
    pub settings: Arc<watch::Sender<Vec<DestinationConfig>>>,
}

/// Builds the relay's shared state without starting anything.
pub fn relay_handle(cfg: &RelayConfig, emitter: Emitter) -> RelayHandle {
    let controller = Arc::new(Controller::new(cfg.ingest_key.clone(), cfg.bugs, emitter));
    let (tx, _rx) = watch::channel(cfg.destinations.clone());
    RelayHandle {
        controller,
        settings: Arc::new(tx),
    }
}

/// Runs the relay until its ingest listener fails.
pub async fn run_relay<N: Net>(net: N, cfg: RelayConfig, handle: RelayHandle) -> io::Result<()> {
    let listener = net.bind(&cfg.ingest_listen).await?;
    run_relay_on(net, listener, cfg, handle).await
}

/// Runs the relay on an already bound ingest listener (real runs on an
/// ephemeral loopback port).
pub async fn run_relay_on<N: Net>(
    net: N,
    listener: N::Listener,
    cfg: RelayConfig,
    handle: RelayHandle,
) -> io::Result<()> {
    let twitch = TwitchApi::new(net.clone(), cfg.twitch_api.clone(), cfg.twitch_timeouts)
        .with_emitter(handle.controller.emitter().clone());
    let supervisor = Supervisor::new(
        net.clone(),
        handle.controller.clone(),
        twitch,
        handle.settings.subscribe(),
        cfg.tick,
        cfg.shutdown_grace,
    );
    let sup = crate::rt::spawn(supervisor.run());
    let result = serve_ingest(listener, handle.controller.clone()).await;
    sup.abort();
    result
}
