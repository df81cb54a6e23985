//! `ws-bulk-crossfire` in real time: the real ws server and the family's
//! plugin peer on loopback, configured by the family's own
//! `server_config` / `client_config`, every timing scaled.

use super::{bind_loopback, Fact, RealTime, RealTimeRun};
use crate::ws::{self, peers::client};
use client::{ClientConfig, ResetWatch, WsClient, WsClientEvent};
use relaysim_core::session::ws::{self as ws_server, ServerStats, WsEvent};
use relaysim_core::Emitter;
use relaysim_core::TokioNet;
use relaysim_harness::check::{Check, RunView, Verdict};
use relaysim_harness::fault::Step;
use relaysim_harness::runner::RunOptions;
use relaysim_harness::trace::{EntryKind, Trace};
use relaysim_harness::{ScenarioInfo, Seed};

/// Runs `ws-bulk-crossfire` seed `seed` on tokio over 127.0.0.1: the real ws
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
pub fn ws_bulk_crossfire(seed: Seed, scale: u32) -> Result<RealTime, String> {
    let scn = &ws::WS_BULK_CROSSFIRE;
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
        tokio::spawn(client::serve_on(
            TokioNet,
            client.clone(),
            ResetWatch::WRITE_ERROR,
        ));
        let apply = |step: &Step<ws::Fault>| match step {
            Step::App(fault) => {
                client.apply(fault.clone().scaled(k));
                true
            }
            // Loopback cannot partition or hold a link; fault points are
            // compiled into the simulator's runs only.
            Step::Net(_) | Step::Point { .. } => false,
        };
        Ok(run.play(apply, || {}).await)
    });
    run.finish(played, |trace| ws_facts(&scn.info, trace, &client, &stats))
}

/// The sanity facts of a real-time ws run, read off its trace (the ws
/// checks that do not depend on timing, and counts) and the two peers.
fn ws_facts(
    scn: &ScenarioInfo,
    trace: &Trace,
    client: &WsClient,
    stats: &ServerStats,
) -> Vec<Fact> {
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
        match e.peer() {
            Some(WsClientEvent::Command { .. }) => commands += 1,
            Some(WsClientEvent::Answer { .. }) => answered += 1,
            Some(WsClientEvent::Uploaded { bytes: b, .. }) => bytes += b,
            Some(WsClientEvent::Push { bytes: b, .. }) => {
                pushes += 1;
                bytes += b;
            }
            _ => {}
        }
        if let EntryKind::Core(relaysim_core::Event::Ws(WsEvent::PayloadApplied { .. })) = &e.kind {
            uploads += 1;
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
