//! The publisher world: the `publisher` host runs the real
//! `relaysim_core::session::publisher` (attempt loop, start group, EOS
//! latches, simulated pipeline) over `SimNet` against the `livekit` host.
//!
//! Owns host names, the publisher's configuration and the mapping from the
//! family's faults to the room server, the pipeline's knobs and the signal
//! (exhaustive: a new fault kind does not compile until it is applied).

use super::fault::Fault;
use super::peers::livekit::{self, LiveKit};
use relaysim_core::session::publisher::{
    run_publisher, PipelineControl, PublisherConfig, PublisherHandle, TrackKind,
};
use relaysim_core::Emitter;
use relaysim_harness::check::Facts;
use relaysim_harness::scenario::{World, WorldCtx};
use relaysim_harness::SimNet;
use std::sync::Arc;
use std::time::Duration;

pub const PUBLISHER: &str = "publisher";
pub const LIVEKIT: &str = "livekit";
/// Every host of the world (what a plan's network faults may name).
pub const HOSTS: &[&str] = &[PUBLISHER, LIVEKIT];
pub const ROOM: &str = "stage";

pub struct PublisherWorld {
    livekit: Arc<LiveKit>,
    control: Arc<PipelineControl>,
    handle: PublisherHandle,
}

pub fn build(sim: &mut relaysim_harness::engine::Sim, ctx: &WorldCtx) -> Box<dyn World<Fault>> {
    build_with(sim, ctx, LiveKit::new(ctx.seed.0, ctx.recorder.clone()))
}

/// The world of `publisher-phases`: the same hosts, with a room that also
/// records each signalling connection's accept, requests and answer
/// latencies (the boundaries its phase spans are cut at).
pub fn build_phases(
    sim: &mut relaysim_harness::engine::Sim,
    ctx: &WorldCtx,
) -> Box<dyn World<Fault>> {
    build_with(
        sim,
        ctx,
        LiveKit::trace_connections(ctx.seed.0, ctx.recorder.clone()),
    )
}

fn build_with(
    sim: &mut relaysim_harness::engine::Sim,
    ctx: &WorldCtx,
    lk: Arc<LiveKit>,
) -> Box<dyn World<Fault>> {
    let rec = ctx.recorder.clone();
    let l = lk.clone();
    sim.host(LIVEKIT, move || livekit::serve(l.clone()));

    let control = PipelineControl::new(ctx.seed.0);
    let handle = PublisherHandle::new();
    let mut cfg = PublisherConfig::new(&format!("{LIVEKIT}:{}", livekit::PORT), ROOM);
    cfg.bugs = ctx.bugs;
    let (c, h) = (control.clone(), handle.clone());
    sim.host(PUBLISHER, move || {
        let (cfg, c, h) = (cfg.clone(), c.clone(), h.clone());
        let emitter = Emitter::new(PUBLISHER, rec.clone());
        async move {
            run_publisher(SimNet, cfg, c, h, emitter).await;
            // The process has nothing left to do; the host stays up.
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    Box::new(PublisherWorld {
        livekit: lk,
        control,
        handle,
    })
}

impl World<Fault> for PublisherWorld {
    fn apply(&mut self, fault: &Fault) {
        match fault {
            Fault::LivekitLatency { min_ms, max_ms } => self.livekit.set_latency(*min_ms, *max_ms),
            Fault::LivekitErrors {
                join_percent,
                publish_percent,
            } => self.livekit.set_errors(*join_percent, *publish_percent),
            Fault::PipelineStart {
                min_ms,
                max_ms,
                fail_percent,
            } => self.control.set_start(*min_ms, *max_ms, *fail_percent),
            Fault::TrackEos { track, after_ms } => {
                if let Some(k) = TrackKind::parse(track) {
                    self.control
                        .set_eos(k, Some(Duration::from_millis(*after_ms)));
                }
            }
            Fault::PublisherSignal => self.handle.signal(),
            Fault::LivekitSilent { on } => self.livekit.set_silent(*on),
        }
    }

    fn heal(&mut self) {
        self.livekit.heal();
        self.control.heal();
    }

    fn facts(&self) -> Facts {
        let mut f = Facts::new();
        f.set("publisher.attempts", self.handle.attempts());
        f.set("publisher.finished", self.handle.finished());
        if let Some(p) = self.handle.current() {
            f.set("publisher.stopped", p.is_stopped());
            f.set("publisher.streaming", p.pipeline().streaming_alive());
            for t in p.tracks() {
                let k = t.kind;
                f.set(format!("publisher.{k}.sid"), t.sid());
                f.set(format!("publisher.{k}.ended"), t.latch.ended());
                f.set(format!("publisher.{k}.sent"), t.samples_sent());
                f.set(format!("publisher.{k}.dropped"), t.samples_dropped());
            }
        }
        let participants = self.livekit.participants();
        let in_room: Vec<String> = participants.keys().map(|a| a.to_string()).collect();
        f.set("livekit.participants", in_room);
        let live: usize = participants.values().map(|p| p.len()).sum();
        f.set("livekit.publications", live);
        let (joins, publishes, unpublishes) = self.livekit.counts();
        f.set("livekit.joins", joins);
        f.set("livekit.publishes", publishes);
        f.set("livekit.unpublishes", unpublishes);
        f
    }
}
