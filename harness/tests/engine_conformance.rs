//! The engine seam's conformance suite: the same cases on both engines.
//!
//! Each case builds a small world on [`Sim`] for turmoil and for the fast
//! engine, runs it for a bounded simulated time, and asserts what host
//! code must be able to rely on whichever engine runs it: connect, accept
//! and refuse; in-order delivery; a window that blocks a writer whose
//! reader stopped and opens when it reads again; partition (segments lost,
//! the stream stalls, connects hang), hold and release (delivered late, in
//! order), repair; blackhole and restore (a connect hangs instead of being
//! refused, a stream goes half-open, what was swallowed is lost); crash and
//! bounce (a host's tasks stop, its peers see the connection end, a
//! connect to it hangs until the bounce refuses it, a bounce starts its
//! software again); timers at their exact simulated time; EOF and reset; and
//! per-engine determinism (same seed, same log). Every run is bounded by
//! its simulated length; nothing here waits on the wall clock.

use relaysim_core::net::Net;
use relaysim_harness::engine::{self, EngineKind, Sim};
use relaysim_harness::{NetParams, Seed, SimNet};
use std::io::ErrorKind;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MS: Duration = Duration::from_millis(1);
const NET: NetParams = NetParams {
    min_latency: Duration::from_millis(1),
    max_latency: Duration::from_millis(5),
    tcp_capacity: 8,
};

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, what: impl Into<String>) {
        let at = engine::elapsed().unwrap_or_default().as_millis();
        self.0
            .lock()
            .unwrap()
            .push(format!("{at:>6}ms {}", what.into()));
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn has(&self, needle: &str) -> bool {
        self.lines().iter().any(|l| l.contains(needle))
    }
    fn find(&self, needle: &str) -> Option<String> {
        self.lines().into_iter().find(|l| l.contains(needle))
    }
}

fn sim(kind: EngineKind, seed: u64) -> Sim {
    Sim::with(kind, Seed(seed), MS, Duration::from_secs(60), NET)
}

fn both(case: impl Fn(EngineKind)) {
    for kind in EngineKind::ALL {
        case(kind);
    }
}

#[test]
fn connect_accept_echo_in_order() {
    both(|kind| {
        let log = Log::default();
        let mut s = sim(kind, 1);
        s.host("server", || async {
            let mut l = SimNet.bind("0.0.0.0:7").await?;
            loop {
                let (mut c, _) = l.accept().await?;
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    loop {
                        match c.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if c.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        let l = log.clone();
        s.client("client", async move {
            let mut c = SimNet.connect("server:7").await?;
            l.push("connected");
            let mut got = Vec::new();
            // Four bytes ahead at most: both windows stay open.
            for i in 0..200u8 {
                c.write_all(&[i]).await?;
                while usize::from(i) >= got.len() + 4 {
                    let mut buf = [0u8; 64];
                    let n = c.read(&mut buf).await?;
                    assert!(n > 0, "{kind}: early EOF");
                    got.extend_from_slice(&buf[..n]);
                }
            }
            while got.len() < 200 {
                let mut buf = [0u8; 64];
                let n = c.read(&mut buf).await?;
                assert!(n > 0, "{kind}: early EOF");
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(
                got,
                (0..200u8).collect::<Vec<_>>(),
                "{kind}: bytes out of order"
            );
            l.push("echoed");
            Ok(())
        });
        s.run_for(Duration::from_secs(5)).unwrap();
        assert!(log.has("echoed"), "{kind}: {:?}", log.lines());
    });
}

#[test]
fn connect_to_a_port_nobody_listens_on_is_refused() {
    both(|kind| {
        let log = Log::default();
        let mut s = sim(kind, 2);
        s.host("server", std::future::pending);
        let l = log.clone();
        s.client("client", async move {
            match SimNet.connect("server:9").await {
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => l.push("refused"),
                Err(e) => l.push(format!("other error {e}")),
                Ok(_) => l.push("connected"),
            }
            Ok(())
        });
        s.run_for(Duration::from_secs(2)).unwrap();
        assert!(log.has("refused"), "{kind}: {:?}", log.lines());
    });
}

/// A writer whose reader stopped reading blocks after the window
/// (`tcp_capacity` segments); it goes on when the reader reads again.
#[test]
fn window_blocks_a_writer_until_the_reader_reads() {
    both(|kind| {
        let log = Log::default();
        let mut s = sim(kind, 3);
        let l = log.clone();
        s.host("server", move || {
            let l = l.clone();
            async move {
                let mut lst = SimNet.bind("0.0.0.0:7").await?;
                let (mut c, _) = lst.accept().await?;
                // Not reading for 2 s.
                tokio::time::sleep(Duration::from_secs(2)).await;
                l.push("reading");
                let mut total = 0;
                let mut buf = [0u8; 1024];
                while total < 40 * 100 {
                    let n = c.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
                l.push(format!("read {total}"));
                std::future::pending::<()>().await;
                Ok(())
            }
        });
        let l = log.clone();
        s.client("client", async move {
            let mut c = SimNet.connect("server:7").await?;
            for i in 0..40 {
                c.write_all(&[7u8; 100]).await?;
                l.push(format!("wrote {i}"));
            }
            l.push("all written");
            std::future::pending::<()>().await;
            Ok(())
        });
        s.run_for(Duration::from_secs(1)).unwrap();
        let written = log.lines().iter().filter(|l| l.contains("wrote")).count();
        assert_eq!(
            written,
            NET.tcp_capacity,
            "{kind}: a stalled reader admits exactly the window: {:?}",
            log.lines()
        );
        s.run_for(Duration::from_secs(4)).unwrap();
        assert!(log.has("all written"), "{kind}: {:?}", log.lines());
        assert!(log.has("read 4000"), "{kind}: {:?}", log.lines());
    });
}

/// Sends one byte every 100 ms and logs what the other side reads.
fn ticker(s: &mut Sim, log: &Log) {
    let l = log.clone();
    s.host("server", move || {
        let l = l.clone();
        async move {
            let mut lst = SimNet.bind("0.0.0.0:7").await?;
            let (mut c, _) = lst.accept().await?;
            let mut buf = [0u8; 64];
            loop {
                let n = c.read(&mut buf).await?;
                if n == 0 {
                    l.push("eof");
                    break;
                }
                for b in &buf[..n] {
                    l.push(format!("got {b}"));
                }
            }
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    s.client("client", async move {
        let mut c = SimNet.connect("server:7").await?;
        for i in 0..40u8 {
            c.write_all(&[i]).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::future::pending::<()>().await;
        Ok(())
    });
}

#[test]
fn partition_loses_segments_and_stalls_the_stream_even_after_repair() {
    both(|kind| {
        let log = Log::default();
        let mut s = sim(kind, 4);
        ticker(&mut s, &log);
        s.run_for(Duration::from_millis(1050)).unwrap();
        assert!(log.has("got 9"), "{kind}: {:?}", log.lines());
        s.partition("client", "server");
        s.run_for(Duration::from_millis(1600)).unwrap();
        s.repair("client", "server");
        s.run_for(Duration::from_secs(4)).unwrap();
        assert!(
            !log.has("got 12"),
            "{kind}: a lost segment leaves a gap: {:?}",
            log.lines()
        );
        assert!(
            !log.has("got 30"),
            "{kind}: nothing after the gap: {:?}",
            log.lines()
        );
    });
}

/// A server that accepts for ever, and a client that connects once at
/// 100 ms and logs how its connect returned.
fn one_connect(s: &mut Sim, log: &Log) {
    s.host("server", || async {
        let mut l = SimNet.bind("0.0.0.0:7").await?;
        loop {
            let _ = l.accept().await?;
        }
    });
    let l = log.clone();
    s.client("client", async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        l.push("connecting");
        let r = SimNet.connect("server:7").await;
        l.push(format!("connect returned ok={}", r.is_ok()));
        std::future::pending::<()>().await;
        Ok(())
    });
}

#[test]
fn connect_across_a_partition_is_refused() {
    both(|kind| {
        let log = Log::default();
        let mut s = sim(kind, 5);
        one_connect(&mut s, &log);
        s.partition("client", "server");
        s.run_for(Duration::from_secs(3)).unwrap();
        assert!(log.has("connecting"), "{kind}: {:?}", log.lines());
        assert!(
            log.has("connect returned ok=false"),
            "{kind}: {:?}",
            log.lines()
        );
    });
}

#[test]
fn hold_delays_and_release_delivers_in_order() {
    both(|kind| {
        let log = Log::default();
        let mut s = sim(kind, 6);
        ticker(&mut s, &log);
        s.run_for(Duration::from_millis(1050)).unwrap();
        s.hold("client", "server");
        s.run_for(Duration::from_millis(2050)).unwrap();
        assert!(!log.has("got 15"), "{kind}: held: {:?}", log.lines());
        s.release("client", "server");
        s.run_for(Duration::from_secs(5)).unwrap();
        let got: Vec<u8> = log
            .lines()
            .iter()
            .filter_map(|l| l.split("got ").nth(1).map(|n| n.parse().unwrap()))
            .collect();
        assert_eq!(
            got,
            (0..40u8).collect::<Vec<_>>(),
            "{kind}: every byte, in order"
        );
        let late = log.find("got 15").unwrap();
        let at: u64 = late
            .trim_start()
            .split("ms")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(at >= 2050, "{kind}: byte 15 waited for the release: {late}");
    });
}

#[test]
fn a_connect_into_a_blackhole_hangs_until_restore_refuses_it() {
    both(|kind| {
        let log = Log::default();
        let mut s = sim(kind, 7);
        one_connect(&mut s, &log);
        s.blackhole("client", "server");
        s.run_for(Duration::from_secs(30)).unwrap();
        assert!(log.has("connecting"), "{kind}: {:?}", log.lines());
        assert!(
            !log.has("connect returned"),
            "{kind}: neither accepted nor refused for 30 s: {:?}",
            log.lines()
        );
        s.restore("client", "server");
        s.run_for(Duration::from_secs(31)).unwrap();
        assert!(
            log.has("connect returned ok=false"),
            "{kind}: the swallowed SYN is lost at the restore: {:?}",
            log.lines()
        );
    });
}

#[test]
fn a_blackhole_leaves_streams_half_open_and_restore_loses_what_it_swallowed() {
    both(|kind| {
        let log = Log::default();
        let mut s = sim(kind, 8);
        ticker(&mut s, &log);
        s.run_for(Duration::from_millis(1050)).unwrap();
        assert!(log.has("got 9"), "{kind}: {:?}", log.lines());
        s.blackhole("client", "server");
        s.run_for(Duration::from_millis(2050)).unwrap();
        assert!(!log.has("got 15"), "{kind}: silent: {:?}", log.lines());
        assert!(
            !log.has("eof"),
            "{kind}: no FIN, no RST: the reader just waits: {:?}",
            log.lines()
        );
        s.restore("client", "server");
        s.run_for(Duration::from_secs(5)).unwrap();
        assert!(
            !log.has("got 15") && !log.has("got 30"),
            "{kind}: swallowed bytes never arrive, and the gap stalls the rest: {:?}",
            log.lines()
        );
        // The client's writes kept succeeding: the ticker reached its end.
        assert!(!log.has("eof"), "{kind}: {:?}", log.lines());
    });
}

/// A server that logs its start, ticks from a spawned task, and answers
/// each connection's bytes; a client host that reconnects every 500 ms and
/// logs what each connection sees.
fn crashable(s: &mut Sim, log: &Log) {
    let l = log.clone();
    s.host("server", move || {
        let l = l.clone();
        async move {
            l.push("server start");
            let t = l.clone();
            relaysim_core::rt::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    t.push("server tick");
                }
            });
            let mut lst = SimNet.bind("0.0.0.0:7").await?;
            loop {
                let (mut c, _) = lst.accept().await?;
                relaysim_core::rt::spawn(async move {
                    let mut buf = [0u8; 16];
                    while let Ok(n) = c.read(&mut buf).await {
                        if n == 0 || c.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        }
    });
    let l = log.clone();
    s.host("client", move || {
        let l = l.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            loop {
                l.push("connecting");
                match SimNet.connect("server:7").await {
                    Err(e) => l.push(format!("connect failed {:?}", e.kind())),
                    Ok(mut c) => {
                        l.push("connected");
                        let mut buf = [0u8; 1];
                        loop {
                            if c.write_all(&[1]).await.is_err() {
                                l.push("write failed");
                                break;
                            }
                            match c.read(&mut buf).await {
                                Ok(1) => {}
                                _ => {
                                    l.push("connection ended");
                                    break;
                                }
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
}

#[test]
fn crash_stops_a_hosts_tasks_and_ends_its_connections_and_bounce_restarts_it() {
    both(|kind| {
        let log = Log::default();
        let mut s = sim(kind, 9);
        crashable(&mut s, &log);
        s.run_for(Duration::from_millis(1000)).unwrap();
        assert!(log.has("connected"), "{kind}: {:?}", log.lines());
        s.crash("server");
        let crashed = log.lines().len();
        s.run_for(Duration::from_millis(3000)).unwrap();

        let after: Vec<String> = log.lines()[crashed..].to_vec();
        assert!(
            !after.iter().any(|l| l.contains("server")),
            "{kind}: nothing of the server runs after its crash: {after:?}"
        );
        assert!(
            after
                .iter()
                .any(|l| l.contains("connection ended") || l.contains("write failed")),
            "{kind}: the client saw its connection end: {after:?}"
        );
        assert!(
            after.iter().any(|l| l.contains("connecting"))
                && !after
                    .iter()
                    .any(|l| l.contains("connect failed") || l.contains("connected")),
            "{kind}: a machine that is down answers no connect: it hangs: {after:?}"
        );
        s.bounce("server");
        s.run_for(Duration::from_millis(5000)).unwrap();
        let lines = log.lines();
        let bounced = lines
            .iter()
            .rposition(|l| l.contains("server start"))
            .unwrap();
        assert!(
            lines[bounced..]
                .iter()
                .any(|l| l.contains("connect failed ConnectionRefused")),
            "{kind}: the bounce refuses the connect that hung: {lines:?}"
        );
        assert_eq!(
            lines.iter().filter(|l| l.contains("server start")).count(),
            2,
            "{kind}: the bounce started the software again: {lines:?}"
        );
        assert!(
            lines[bounced..].iter().any(|l| l.contains("connected")),
            "{kind}: the client reconnects to the restarted server: {lines:?}"
        );
        assert!(
            lines[bounced..].iter().any(|l| l.contains("server tick")),
            "{kind}: {lines:?}"
        );
    });
}

#[test]
fn the_fast_engine_refuses_to_crash_a_host_with_a_task_it_cannot_abort() {
    let mut s = sim(EngineKind::Fast, 10);
    s.host("server", || async {
        // A task spawned behind relaysim_core::rt's back (as a dependency
        // would): the engine cannot abort it.
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(std::future::pending::<()>());
        std::future::pending::<()>().await;
        Ok(())
    });
    s.run_for(Duration::from_millis(10)).unwrap();
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.crash("server")))
        .expect_err("a crash that would leave a task running is refused");
    let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("cannot crash server: 1 of its tasks were spawned outside"),
        "{msg}"
    );
}

#[test]
fn timers_fire_at_their_simulated_time() {
    both(|kind| {
        let log = Log::default();
        let mut s = sim(kind, 7);
        let l = log.clone();
        s.client("a", async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            l.push("slept 1500");
            tokio::time::sleep(Duration::from_millis(250)).await;
            l.push("slept 250");
            Ok(())
        });
        s.run_for(Duration::from_secs(3)).unwrap();
        assert_eq!(
            log.lines(),
            vec!["  1500ms slept 1500", "  1750ms slept 250"],
            "{kind}"
        );
    });
}

#[test]
fn shutdown_is_eof_and_closing_with_unread_data_is_a_reset() {
    both(|kind| {
        let log = Log::default();
        let mut s = sim(kind, 8);
        let l = log.clone();
        s.host("server", move || {
            let l = l.clone();
            async move {
                let mut lst = SimNet.bind("0.0.0.0:7").await?;
                // First connection: read to EOF.
                let (mut c, _) = lst.accept().await?;
                let mut all = Vec::new();
                c.read_to_end(&mut all).await?;
                l.push(format!("eof after {}", all.len()));
                // Second: close it with unread data.
                let (c, _) = lst.accept().await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                drop(c);
                l.push("dropped unread");
                std::future::pending::<()>().await;
                Ok(())
            }
        });
        let l = log.clone();
        s.client("client", async move {
            let mut c = SimNet.connect("server:7").await?;
            c.write_all(b"hello").await?;
            c.shutdown().await?;
            let mut c = SimNet.connect("server:7").await?;
            c.write_all(b"never read").await?;
            l.push(format!("established {}", engine::established_streams()));
            tokio::time::sleep(Duration::from_millis(500)).await;
            l.push(format!("established {}", engine::established_streams()));
            let mut buf = [0u8; 8];
            let r = c.read(&mut buf).await;
            l.push(format!("read after reset ok={}", r.is_ok()));
            Ok(())
        });
        s.run_for(Duration::from_secs(3)).unwrap();
        assert!(log.has("eof after 5"), "{kind}: {:?}", log.lines());
        assert!(log.has("dropped unread"), "{kind}: {:?}", log.lines());
        let est: Vec<String> = log
            .lines()
            .into_iter()
            .filter(|l| l.contains("established"))
            .collect();
        assert!(est[0].ends_with("established 2"), "{kind}: {est:?}");
        assert!(
            est[1].ends_with("established 1"),
            "{kind}: the reset removed one: {est:?}"
        );
    });
}

/// A workload with races (select!, several connections, random latency)
/// whose log must be identical for the same seed, and differ somewhere
/// across seeds.
fn racy_log(kind: EngineKind, seed: u64) -> Vec<String> {
    let log = Log::default();
    let mut s = sim(kind, seed);
    let l = log.clone();
    s.host("server", move || {
        let l = l.clone();
        async move {
            let mut lst = SimNet.bind("0.0.0.0:7").await?;
            loop {
                let (mut c, peer) = lst.accept().await?;
                let l = l.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 16];
                    while let Ok(n) = c.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        l.push(format!("from {} {:?}", peer.port(), &buf[..n]));
                    }
                });
            }
        }
    });
    for name in ["c1", "c2", "c3"] {
        let l = log.clone();
        s.client(name, async move {
            let mut c = SimNet.connect("server:7").await?;
            for i in 0..20u8 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(10)) => l.push(format!("{name} a {i}")),
                    _ = tokio::time::sleep(Duration::from_millis(10)) => l.push(format!("{name} b {i}")),
                }
                c.write_all(&[i]).await?;
            }
            Ok(())
        });
    }
    s.run_for(Duration::from_secs(2)).unwrap();
    log.lines()
}

#[test]
fn same_seed_same_log_on_each_engine() {
    both(|kind| {
        let a = racy_log(kind, 11);
        let b = racy_log(kind, 11);
        assert!(a.len() > 60, "{kind}: {a:?}");
        assert_eq!(a, b, "{kind}: the same seed must give the same log");
        let others: Vec<Vec<String>> = (12..16).map(|s| racy_log(kind, s)).collect();
        assert!(
            others.iter().any(|o| *o != a),
            "{kind}: the seed must reach the run (select! order, latency)"
        );
    });
}
