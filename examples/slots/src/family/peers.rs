//! The slots family's peers: the simulated outside world of the slot
//! server, each a turmoil host.
//!
//! | peer | plays | records |
//! |---|---|---|
//! | [`LicenceServer`] | the licence server: answers `may <client>` with `yes` or `no`, after a latency, refusing a share of queries, both from the plan | `licence.answer` |
//! | [`Client`] | a transcoding client: a steady loop of sessions (connect, `acquire`, hold the slot a while, `release`), bursts of extra sessions and crashes on the plan's command | `client.*` — what *it* saw |
//!
//! Peers are the omniscient view of the outside world that checks compare
//! against what the server did: a client records `client.granted` when the
//! answer reaches it and `client.released` before it sends `release`, so
//! its view of holding a slot is always inside the server's. They speak the
//! component's wire protocol and never call into it.

use crate::slots::MAX_LINE;
use futures_util::{SinkExt, StreamExt};
use relaysim_core::entropy::SimRng;
use relaysim_core::net::{Net, NetListener};
use relaysim_harness::{Recorder, SimNet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::codec::{Framed, LinesCodec};

/// The port the licence server listens on.
pub const LICENCE_PORT: u16 = 7100;
/// Licence latency once healed (and until the plan says otherwise).
pub const HEALTHY_LATENCY_MS: (u64, u64) = (5, 40);
/// A client waits this long for a connection or an answer, then gives up.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(4);
/// A client's pause between two sessions of its steady loop.
pub const THINK_MS: (u64, u64) = (500, 2_500);
/// How long a client holds a granted slot.
pub const HOLD_MS: (u64, u64) = (300, 2_000);

/// What the licence server records (`licence.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenceEvent {
    /// It answered a query about `client`.
    Answer {
        /// The client asked about.
        client: String,
        /// `yes` (else `no`).
        yes: bool,
    },
}

impl fmt::Display for LicenceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LicenceEvent::Answer { client, yes } => write!(
                f,
                "licence.answer client={client} answer={}",
                if *yes { "yes" } else { "no" }
            ),
        }
    }
}

#[derive(Debug)]
struct LicenceState {
    latency_ms: (u64, u64),
    refuse_percent: u8,
    rng: SimRng,
}

/// The licence server's state, shared with the world.
#[derive(Debug)]
pub struct LicenceServer {
    host: &'static str,
    state: Mutex<LicenceState>,
    answered: AtomicU64,
    recorder: Arc<Recorder>,
}

impl LicenceServer {
    /// The licence server of one run, recording as `host`.
    pub fn new(host: &'static str, seed: u64, recorder: Arc<Recorder>) -> Arc<LicenceServer> {
        Arc::new(LicenceServer {
            host,
            state: Mutex::new(LicenceState {
                latency_ms: HEALTHY_LATENCY_MS,
                refuse_percent: 0,
                rng: SimRng::fork(seed, host),
            }),
            answered: AtomicU64::new(0),
            recorder,
        })
    }

    fn state(&self) -> MutexGuard<'_, LicenceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Per-query latency from now on.
    pub fn set_latency(&self, min_ms: u64, max_ms: u64) {
        self.state().latency_ms = (min_ms, max_ms.max(min_ms));
    }

    /// Share of queries answered `no` from now on.
    pub fn set_refusals(&self, percent: u8) {
        self.state().refuse_percent = percent.min(100);
    }

    /// Healthy latency, no refusals (the heal).
    pub fn heal(&self) {
        let mut s = self.state();
        s.latency_ms = HEALTHY_LATENCY_MS;
        s.refuse_percent = 0;
    }

    /// Queries answered so far.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Acquire)
    }

    /// Decides one query: the answer and its latency.
    fn decide(&self) -> (bool, Duration) {
        let mut s = self.state();
        let (lo, hi) = s.latency_ms;
        let latency = Duration::from_millis(s.rng.range(lo, hi));
        let refuse = f64::from(s.refuse_percent) / 100.0;
        (!s.rng.chance(refuse), latency)
    }

    /// One query connection: `may <client>` → `yes` / `no`.
    async fn query<S: relaysim_core::net::NetStream>(self: Arc<Self>, stream: S) {
        let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
        let Some(Ok(line)) = lines.next().await else {
            return;
        };
        let Some(client) = line.strip_prefix("may ") else {
            return;
        };
        let (yes, latency) = self.decide();
        tokio::time::sleep(latency).await;
        self.answered.fetch_add(1, Ordering::AcqRel);
        self.recorder.peer(
            self.host,
            LicenceEvent::Answer {
                client: client.to_string(),
                yes,
            },
        );
        let _ = lines.send(if yes { "yes" } else { "no" }).await;
    }
}

/// The licence host's software: serve `0.0.0.0:LICENCE_PORT` forever.
pub async fn serve_licence(licence: Arc<LicenceServer>) -> relaysim_harness::HostResult {
    let listener = SimNet.bind(&format!("0.0.0.0:{LICENCE_PORT}")).await?;
    serve_licence_on(listener, licence).await?;
    Ok(())
}

/// Serves licence queries on any listener.
pub async fn serve_licence_on<L: NetListener>(
    mut listener: L,
    licence: Arc<LicenceServer>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(licence.clone().query(stream));
    }
}

/// What a client records (`client.*`, under its own host name). `s` is the
/// client's session number, from 1, given when it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// It sent `acquire`.
    Ask {
        /// The session.
        s: u64,
    },
    /// `granted` reached it: it holds a slot from now on.
    Granted {
        /// The session.
        s: u64,
    },
    /// `full` or `denied` reached it.
    Refused {
        /// The session.
        s: u64,
        /// `full` or `denied`.
        answer: &'static str,
    },
    /// It let go of its slot (recorded before it sends `release`).
    Released {
        /// The session.
        s: u64,
    },
    /// The session died in a crash, holding or waiting, without `release`.
    Dropped {
        /// The session.
        s: u64,
    },
    /// No usable answer: `timeout`, `closed` or `garbled`.
    GaveUp {
        /// The session.
        s: u64,
        /// What happened.
        why: &'static str,
    },
    /// It could not connect to the server.
    Unreachable,
}

impl ClientEvent {
    /// The session it belongs to, if any.
    pub fn session(&self) -> Option<u64> {
        match self {
            ClientEvent::Ask { s }
            | ClientEvent::Granted { s }
            | ClientEvent::Refused { s, .. }
            | ClientEvent::Released { s }
            | ClientEvent::Dropped { s }
            | ClientEvent::GaveUp { s, .. } => Some(*s),
            ClientEvent::Unreachable => None,
        }
    }
}

impl fmt::Display for ClientEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientEvent::Ask { s } => write!(f, "client.ask s={s}"),
            ClientEvent::Granted { s } => write!(f, "client.granted s={s}"),
            ClientEvent::Refused { s, answer } => write!(f, "client.refused s={s} answer={answer}"),
            ClientEvent::Released { s } => write!(f, "client.released s={s}"),
            ClientEvent::Dropped { s } => write!(f, "client.dropped s={s}"),
            ClientEvent::GaveUp { s, why } => write!(f, "client.gave-up s={s} why={why}"),
            ClientEvent::Unreachable => write!(f, "client.unreachable"),
        }
    }
}

/// A client's control and counters, shared with the world.
#[derive(Debug)]
pub struct Client {
    /// Its host name (and the name it acquires under).
    pub host: &'static str,
    server: String,
    recorder: Arc<Recorder>,
    rng: Mutex<SimRng>,
    /// Crashes ordered so far.
    crashes: watch::Sender<u64>,
    /// Burst sessions ordered so far.
    bursts: watch::Sender<u64>,
    sessions: AtomicU64,
    granted: AtomicU64,
}

impl Client {
    /// A client of the slot server at `server` (`host:port`).
    pub fn new(
        host: &'static str,
        server: &str,
        seed: u64,
        recorder: Arc<Recorder>,
    ) -> Arc<Client> {
        Arc::new(Client {
            host,
            server: server.to_string(),
            recorder,
            rng: Mutex::new(SimRng::fork(seed, host)),
            crashes: watch::channel(0).0,
            bursts: watch::channel(0).0,
            sessions: AtomicU64::new(0),
            granted: AtomicU64::new(0),
        })
    }

    /// The plan's command: open `sessions` extra sessions now.
    pub fn burst(&self, sessions: u8) {
        self.bursts.send_modify(|n| *n += u64::from(sessions));
    }

    /// The plan's command: every session dies now.
    pub fn crash(&self) {
        self.crashes.send_modify(|n| *n += 1);
    }

    /// Sessions that asked so far.
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Acquire)
    }

    /// Sessions granted so far.
    pub fn granted(&self) -> u64 {
        self.granted.load(Ordering::Acquire)
    }

    fn draw(&self, (lo, hi): (u64, u64)) -> Duration {
        let ms = self
            .rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .range(lo, hi);
        Duration::from_millis(ms)
    }

    fn record(&self, event: ClientEvent) {
        self.recorder.peer(self.host, event);
    }

    /// One session, unless a crash ends it first.
    async fn session<N: Net>(self: Arc<Self>, net: N) {
        let mut crashes = self.crashes.subscribe();
        crashes.borrow_and_update();
        // The session that may still need a `client.dropped` (0: none).
        let open = AtomicU64::new(0);
        tokio::select! {
            _ = crashes.changed() => {
                let s = open.load(Ordering::Acquire);
                if s > 0 {
                    self.record(ClientEvent::Dropped { s });
                }
            }
            _ = self.run_session(&net, &open) => {}
        }
    }

    async fn run_session<N: Net>(&self, net: &N, open: &AtomicU64) {
        let stream = match tokio::time::timeout(ANSWER_TIMEOUT, net.connect(&self.server)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(_)) | Err(_) => return self.record(ClientEvent::Unreachable),
        };
        let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
        let s = self.sessions.fetch_add(1, Ordering::AcqRel) + 1;
        open.store(s, Ordering::Release);
        self.record(ClientEvent::Ask { s });
        if lines.send(format!("acquire {}", self.host)).await.is_err() {
            open.store(0, Ordering::Release);
            return self.record(ClientEvent::GaveUp { s, why: "closed" });
        }
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, lines.next()).await;
        let event = match answer {
            Ok(Some(Ok(line))) => match line.as_str() {
                "granted" => {
                    self.granted.fetch_add(1, Ordering::AcqRel);
                    self.record(ClientEvent::Granted { s });
                    tokio::time::sleep(self.draw(HOLD_MS)).await;
                    // Let go first, then tell the server: the client's view
                    // of holding never outlasts the server's.
                    open.store(0, Ordering::Release);
                    self.record(ClientEvent::Released { s });
                    if lines.send("release").await.is_ok() {
                        // Wait for `released`, so the close is graceful.
                        let _ = tokio::time::timeout(ANSWER_TIMEOUT, lines.next()).await;
                    }
                    return;
                }
                "full" => ClientEvent::Refused { s, answer: "full" },
                "denied" => ClientEvent::Refused {
                    s,
                    answer: "denied",
                },
                _ => ClientEvent::GaveUp { s, why: "garbled" },
            },
            Ok(Some(Err(_)) | None) => ClientEvent::GaveUp { s, why: "closed" },
            Err(_) => ClientEvent::GaveUp { s, why: "timeout" },
        };
        open.store(0, Ordering::Release);
        self.record(event);
    }
}

/// A client host's software.
pub async fn serve_client(client: Arc<Client>) -> relaysim_harness::HostResult {
    serve_client_on(SimNet, client).await;
    Ok(())
}

/// Runs a client over any network: its steady loop of sessions, plus the
/// burst sessions the plan orders.
pub async fn serve_client_on<N: Net>(net: N, client: Arc<Client>) {
    let steady = {
        let (net, client) = (net.clone(), client.clone());
        async move {
            loop {
                tokio::time::sleep(client.draw(THINK_MS)).await;
                client.clone().session(net.clone()).await;
            }
        }
    };
    let bursts = async move {
        let mut ordered = client.bursts.subscribe();
        let mut launched = *ordered.borrow_and_update();
        while ordered.changed().await.is_ok() {
            let total = *ordered.borrow_and_update();
            for _ in launched..total {
                tokio::spawn(client.clone().session(net.clone()));
            }
            launched = total;
        }
    };
    tokio::join!(steady, bursts);
}
