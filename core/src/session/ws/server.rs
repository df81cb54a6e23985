//! The ws server: the accept loop.
//!
//! Owns the loop that gives every accepted connection its own session task,
//! and numbers connections in its [`ServerStats`]. It knows only the [`Net`] seam: the same code serves turmoil's
//! simulated TCP and real sockets on [`crate::net::TokioNet`].

use crate::event::Emitter;
use crate::net::{Net, NetListener};
use crate::session::ws::session::{run_session, SessionCtx};
use crate::session::ws::stats::ServerStats;
use crate::session::ws::WsConfig;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
