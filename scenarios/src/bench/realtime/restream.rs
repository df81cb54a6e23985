//! `vod-slow-twitch` in real time: the real relay, the family's Twitch API,
//! platform ingests and OBS peers on loopback, the relay configured by the
//! family's own `relay_config`.

use super::{bind_loopback, Fact, RealTime, RealTimeRun};
use crate::restream::peers::ingest_sink::{self, SinkEvent};
use crate::restream::peers::{obs, twitch_api};
use crate::restream::{self, world, Fault};
use relaysim_core::restream::relay::{relay_handle, run_relay_on};
use relaysim_core::restream::RestreamEvent;
use relaysim_core::{BugSet, Emitter, TokioNet};
use relaysim_harness::fault::Step;
use relaysim_harness::Seed;
use std::time::Duration;

/// Runs `vod-slow-twitch` seed `seed` (application faults only) on tokio
/// over 127.0.0.1 with every timing divided by `scale`. Facts: the
/// VOD session was applied, and every ingest was streamed to.
pub fn vod_slow_twitch(seed: Seed, scale: u32) -> Result<RealTime, String> {
    let run = RealTimeRun::new(&restream::VOD_SLOW_TWITCH, seed, scale)?;
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
        // The family's own wiring, at loopback addresses.
        let peers = world::Peers {
            twitch_api: format!("127.0.0.1:{api_port}"),
            ingests: [0, 1, 2].map(|i| format!("127.0.0.1:{}", sink_ports[i])),
        };
        let api = twitch_api::TwitchApi::new(seed.0, recorder.clone(), &peers.ingests[0]);
        tokio::spawn(twitch_api::serve_on(api_l, api.clone()));
        let mut cfg = world::relay_config(&peers, BugSet::NONE);
        cfg.tick = div(cfg.tick);
        cfg.shutdown_grace = div(cfg.shutdown_grace);
        cfg.twitch_timeouts.connect = div(cfg.twitch_timeouts.connect);
        cfg.twitch_timeouts.total = div(cfg.twitch_timeouts.total);
        cfg.twitch_timeouts.outer = div(cfg.twitch_timeouts.outer);
        let (relay_l, relay_port) = bind_loopback().await?;
        let handle = relay_handle(&cfg, Emitter::new(world::RELAY, recorder.clone()));
        tokio::spawn(run_relay_on(TokioNet, relay_l, cfg, handle));
        let obs = obs::Publisher::new_scaled(
            &format!("127.0.0.1:{relay_port}"),
            world::INGEST_KEY,
            recorder.clone(),
            k,
        );
        tokio::spawn(obs::serve_on(TokioNet, obs.clone()));

        let apply = |step: &Step<Fault>| {
            let Step::App(fault) = step else {
                // Loopback cannot partition or hold a link; fault points
                // are compiled into the simulator's runs only.
                return false;
            };
            match fault {
                Fault::TwitchLatency { min_ms, max_ms } => {
                    api.set_latency(min_ms / u64::from(k), max_ms / u64::from(k))
                }
                Fault::TwitchErrors { percent } => api.set_errors(*percent),
                Fault::PublisherConnect => obs.set_wanted(true),
                Fault::PublisherDisconnect => obs.set_wanted(false),
                // Only `vod-phases` silences a peer; this comparison does
                // not replay it.
                Fault::Silent { .. } | Fault::Speak { .. } => return false,
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
            .filter(|e| matches!(e.peer(), Some(SinkEvent::Open { .. })))
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
