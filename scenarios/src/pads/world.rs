//! The pads world: the `gst` host runs the real
//! `relaysim_core::session::pads::MoqSrc` over `SimNet`, driven by a small
//! application (start, stop, restart on command; a restart after an element
//! error), against the `moq-relay` host; [`GstDownstream`] sits behind the
//! element's pads.
//!
//! Owns host names, the element's configuration, the application, and the
//! mapping from the family's faults to the relay and the application
//! (exhaustive: a new fault kind does not compile until it is applied).

use super::fault::Fault;
use super::peers::downstream::GstDownstream;
use super::peers::moq_relay::{self, MoqRelay, RelayCmd};
use relaysim_core::entropy::SimRng;
use relaysim_core::session::pads::bus::BusMessage;
use relaysim_core::session::pads::{MoqSrc, PadsConfig, STOP_BOUND};
use relaysim_core::Emitter;
use relaysim_harness::check::Facts;
use relaysim_harness::scenario::{World, WorldCtx};
use relaysim_harness::SimNet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub const GST: &str = "gst";
pub const RELAY: &str = "moq-relay";
/// Every host of the world (what a plan's network faults may name).
pub const HOSTS: &[&str] = &[GST, RELAY];
pub const BROADCAST: &str = "live";
/// The catalog a run starts with.
pub const INITIAL_TRACKS: [&str; 2] = ["cam", "mic"];
/// The application restarts the element this long after an element error.
pub const ERROR_RESTART: Duration = Duration::from_millis(300);

/// What the application is told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppCmd {
    Start,
    Stop,
    Restart,
    Stall(Duration),
}

type Src = Arc<MoqSrc<SimNet>>;

pub struct PadsWorld {
    relay: Arc<MoqRelay>,
    downstream: Arc<GstDownstream>,
    app: mpsc::UnboundedSender<AppCmd>,
    src: Arc<Mutex<Option<Src>>>,
}

/// The application: owns the element, follows commands, restarts after an
/// error while it wants the element running.
async fn app(
    src: Src,
    mut bus: mpsc::UnboundedReceiver<BusMessage>,
    mut cmds: mpsc::UnboundedReceiver<AppCmd>,
) {
    enum Step {
        Cmd(AppCmd),
        Error(u64),
        Restart,
        Done,
    }
    let mut want = false;
    let mut restart_at: Option<Instant> = None;
    loop {
        let deadline = restart_at;
        let restart = async move {
            match deadline {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let step = tokio::select! {
            biased;
            cmd = cmds.recv() => cmd.map_or(Step::Done, Step::Cmd),
            msg = bus.recv() => match msg {
                Some(BusMessage::Error { session, .. }) => Step::Error(session),
                None => Step::Done,
            },
            _ = restart => Step::Restart,
        };
        match step {
            Step::Cmd(AppCmd::Start) => {
                want = true;
                src.start();
            }
            Step::Cmd(AppCmd::Stop) => {
                want = false;
                restart_at = None;
                src.stop().await;
            }
            Step::Cmd(AppCmd::Restart) => {
                want = true;
                restart_at = None;
                src.stop().await;
                src.start();
            }
            Step::Cmd(AppCmd::Stall(d)) => src.stall_main_loop(d),
            Step::Error(session) => {
                if want && src.session() == Some(session) && restart_at.is_none() {
                    restart_at = Some(Instant::now() + ERROR_RESTART);
                }
            }
            Step::Restart => {
                restart_at = None;
                if want {
                    src.stop().await;
                    src.start();
                }
            }
            Step::Done => return,
        }
    }
}

pub fn build(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    build_with(sim, ctx, STOP_BOUND)
}

/// The stop bound the `pads-phases` application configures for `seed`:
/// mostly the element's default; for about a third of the seeds none at
/// all (`stop-bound` 0), so every stop takes the backstop's abort path —
/// the only way to reach it, since every wait of the controller and the
/// pumps watches the session's shutdown.
pub fn phases_stop_bound(seed: u64) -> Duration {
    let mut rng = SimRng::fork(seed, "pads-phases/stop-bound");
    if rng.chance(0.35) {
        Duration::ZERO
    } else {
        STOP_BOUND
    }
}

/// The `pads-phases` world: [`build`] with [`phases_stop_bound`].
pub fn build_phases(
    sim: &mut relaysim_harness::engine::Sim,
    ctx: &WorldCtx,
) -> Box<dyn World<Fault>> {
    build_with(sim, ctx, phases_stop_bound(ctx.seed.0))
}

fn build_with(
    sim: &mut relaysim_harness::engine::Sim,
    ctx: &WorldCtx,
    stop_bound: Duration,
) -> Box<dyn World<Fault>> {
    let rec = ctx.recorder.clone();
    let relay = MoqRelay::new(BROADCAST, &INITIAL_TRACKS, rec.clone());
    let r = relay.clone();
    sim.host(RELAY, move || moq_relay::serve(r.clone()));

    let downstream = GstDownstream::new(GST, rec.clone());
    let (app_tx, app_rx) = mpsc::unbounded_channel();
    let app_rx = Arc::new(Mutex::new(Some(app_rx)));
    let slot: Arc<Mutex<Option<Src>>> = Arc::new(Mutex::new(None));
    let mut cfg = PadsConfig::new(&format!("{RELAY}:{}", moq_relay::PORT), BROADCAST);
    cfg.bugs = ctx.bugs;
    cfg.stop_bound = stop_bound;
    let (ds, s) = (downstream.clone(), slot.clone());
    sim.host(GST, move || {
        let (src, bus) = MoqSrc::new(
            SimNet,
            cfg.clone(),
            ds.clone(),
            Emitter::new(GST, rec.clone()),
        );
        *s.lock().unwrap_or_else(|p| p.into_inner()) = Some(src.clone());
        let cmds = app_rx.lock().unwrap_or_else(|p| p.into_inner()).take();
        async move {
            if let Some(cmds) = cmds {
                app(src, bus, cmds).await;
            }
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    Box::new(PadsWorld {
        relay,
        downstream,
        app: app_tx,
        src: slot,
    })
}

impl World<Fault> for PadsWorld {
    fn apply(&mut self, fault: &Fault) {
        let cmd = match fault {
            Fault::PadsStart => AppCmd::Start,
            Fault::PadsStop => AppCmd::Stop,
            Fault::PadsRestart => AppCmd::Restart,
            Fault::MainLoopStall { ms } => AppCmd::Stall(Duration::from_millis(*ms)),
            Fault::MoqCatalog { tracks } => {
                self.relay.command(RelayCmd::SetTracks(tracks.clone()));
                return;
            }
            Fault::MoqConfigChange {
                track,
                catalog_delay_ms,
            } => {
                self.relay.command(RelayCmd::ConfigChange {
                    track: track.clone(),
                    delay: Duration::from_millis(*catalog_delay_ms),
                });
                return;
            }
            Fault::MoqRelayDown { ms } => {
                self.relay
                    .command(RelayCmd::Down(Duration::from_millis(*ms)));
                return;
            }
        };
        let _ = self.app.send(cmd);
    }

    /// The liveness phase wants the element running.
    fn heal(&mut self) {
        let _ = self.app.send(AppCmd::Start);
    }

    fn facts(&self) -> Facts {
        let mut f = Facts::new();
        let cat = self.relay.catalog();
        let tracks: Vec<String> = cat.tracks.iter().map(|t| t.name.clone()).collect();
        f.set("relay.catalog", tracks);
        f.set("relay.lagged", self.relay.lagged());
        let (buffers, removed, violations) = self.downstream.totals();
        f.set("downstream.buffers", buffers);
        f.set("downstream.removed", removed);
        f.set("downstream.violations", violations);
        for ((session, pad), view) in self.downstream.live() {
            f.set(format!("downstream.{pad}@{session}.buffers"), view.buffers);
            if let Some(t) = view.last_buffer_at {
                f.set(
                    format!("downstream.{pad}@{session}.last_ms"),
                    t.as_millis() as u64,
                );
            }
        }
        if let Some(src) = self.src.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if let Some(session) = src.session() {
                f.set("element.session", session);
            }
            f.set("element.sessions", src.sessions_started());
            let pads: Vec<String> = src
                .element()
                .pads()
                .iter()
                .map(|p| format!("{}@{}", p.name, p.session))
                .collect();
            f.set("element.pads", pads);
        }
        f
    }
}
