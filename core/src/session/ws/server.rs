//! The ws server: the accept loop and the server-wide counters.
//!
//! Owns [`ServerStats`] (sessions open, keepalive kills, swaps numbered
//! server-wide, answers, shed slices, the peak of any session's outbound
//! queue) and the loop that gives every accepted connection its own session
//! task. It knows only the [`Net`] seam: the same code serves turmoil's
//! simulated TCP and real sockets on [`crate::net::TokioNet`].

use crate::event::Emitter;
use crate::net::{Net, NetListener};
use crate::session::ws::session::{run_session, SessionCtx};
use crate::session::ws::WsConfig;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters shared by every session of one server (read by the harness for
/// final facts, and by the real-peer test).
#[derive(Debug, Default)]
pub struct ServerStats {
    pub sessions_opened: AtomicU64,
    pub sessions_open: AtomicU64,
    pub keepalive_kills: AtomicU64,
    /// Swaps accepted; also the last swap id.
    pub swaps: AtomicU64,
    /// Answers queued (one per command).
    pub answers: AtomicU64,
    pub slices_shed: AtomicU64,
    /// The most bytes any session's outbound queue held.
    pub peak_queued: AtomicU64,
}

impl ServerStats {
    pub fn new() -> Arc<ServerStats> {
        Arc::new(ServerStats::default())
    }

    pub fn get(v: &AtomicU64) -> u64 {
        v.load(Ordering::Acquire)
    }
}

/// Binds `cfg.listen` on `net` and serves sessions forever.
pub async fn serve_ws<N: Net>(
    net: N,
    cfg: WsConfig,
    emitter: Emitter,
    stats: Arc<ServerStats>,
) -> io::Result<()> {
    let listener = net.bind(&cfg.listen).await?;
    serve_on(listener, cfg, emitter, stats).await
}

/// Serves sessions on an already bound listener (the real-peer test binds
/// port 0 first to learn the port).
pub async fn serve_on<L: NetListener>(
    mut listener: L,
    cfg: WsConfig,
    emitter: Emitter,
    stats: Arc<ServerStats>,
) -> io::Result<()> {
    let cfg = Arc::new(cfg);
    loop {
        let (stream, _peer) = listener.accept().await?;
        let conn = stats.sessions_opened.fetch_add(1, Ordering::AcqRel) + 1;
        tokio::spawn(run_session(
            stream,
            SessionCtx {
                conn,
                cfg: cfg.clone(),
                emitter: emitter.clone(),
                stats: stats.clone(),
            },
        ));
    }
}
