//! The harness's overhead: restream's hosts and traffic on bare turmoil —
//! no core, no harness, no trace — to compare with the real scenario.
//! This world is a stand-in on purpose (the same hosts, tick, links and
//! message sizes, none of the code), so it is the one world here that is
//! not the family's own.

use super::now;
use crate::restream::{self, world};
use relaysim_harness::Seed;
use std::time::Duration;

/// The restream world's traffic on bare turmoil: the same hosts, tick,
/// links and duration; OBS sends 10 frames/s of the same size to the relay,
/// which forwards each to three ingests; every 2 s the relay makes one
/// request/response round trip to the API. No core, no harness, no trace.
pub fn bare_turmoil_restream(seed: u64) -> f64 {
    use futures_util::{SinkExt, StreamExt};
    use tokio_util::codec::{Framed, LengthDelimitedCodec};
    let scn = &restream::VOD_SLOW_TWITCH;
    let mut sim = relaysim_harness::engine::turmoil_sim_for(scn, Seed(seed));
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
