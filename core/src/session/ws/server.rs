//! The ws server: the accept loop.
//!
//! Owns the loop that gives every accepted connection its own session task,
//! numbers connections in its [`ServerStats`], caps how many sessions run at
//! once, and survives its listener's failures. It knows only the [`Net`]
//! seam: the same code serves turmoil's simulated TCP and real sockets on
//! [`crate::net::TokioNet`]. It must never stop serving because of one
//! connection or one failed `accept()`, and never spin.
//!
//! - **A failed `accept()`** (EMFILE, a connection reset before it was
//!   accepted, …) is traced as `ws.accept.error kind=… backoff_ms=…` and
//!   counted; the loop pauses `accept_backoff`, doubling on each further
//!   failure in a row up to `accept_backoff_max`, and goes on. A success
//!   resets the pause.
//! - **The session cap** (`max_sessions`) counts sessions from accept to
//!   end, handshakes included. A connection over the cap is **refused with
//!   close 1013** (try again later): the handshake is completed (within
//!   [`HANDSHAKE_TIMEOUT`]) so the client learns why and when to retry, then
//!   the close frame goes out within `close_grace`. Refusals are themselves
//!   bounded: at most [`MAX_REFUSING`] run at once, and a connection beyond
//!   that is dropped before its handshake (`code=none`), so a flood costs
//!   a bounded number of tasks. Either way `ws.session.refused` is traced
//!   and `sessions_refused` counted; a refused connection takes no
//!   connection number.

use crate::event::Emitter;
use crate::net::{AcceptBackoff, Net, NetListener, NetStream};
use crate::session::ws::close_code::TRY_AGAIN_LATER;
use crate::session::ws::event::WsEvent;
use crate::session::ws::session::{run_session, SessionCtx, HANDSHAKE_TIMEOUT};
use crate::session::ws::stats::ServerStats;
use crate::session::ws::WsConfig;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// Refusals (handshake + close 1013) in flight at once; a connection over
/// the cap beyond these is dropped before its handshake.
pub const MAX_REFUSING: usize = 8;

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
/// port 0 first to learn the port). Never returns: a failed `accept()` is
/// traced and waited out.
pub async fn serve_on<L: NetListener>(
    mut listener: L,
    cfg: WsConfig,
    emitter: Emitter,
    stats: Arc<ServerStats>,
) -> io::Result<()> {
    let cfg = Arc::new(cfg);
    let sessions = Arc::new(Semaphore::new(cfg.max_sessions.min(Semaphore::MAX_PERMITS)));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut backoff = AcceptBackoff::new(cfg.accept_backoff, cfg.accept_backoff_max);
    loop {
        let stream = backoff
            .accept(&mut listener, |kind, backoff_ms| {
                stats.accept_errors.fetch_add(1, Ordering::AcqRel);
                emitter.emit(WsEvent::AcceptError { kind, backoff_ms });
            })
            .await;
        let Ok(permit) = sessions.clone().try_acquire_owned() else {
            stats.sessions_refused.fetch_add(1, Ordering::AcqRel);
            let cap = cfg.max_sessions as u64;
            match refusing.clone().try_acquire_owned() {
                Ok(slot) => {
                    emitter.emit(WsEvent::SessionRefused {
                        code: Some(TRY_AGAIN_LATER),
                        cap,
                    });
                    crate::rt::spawn(refuse(stream, cfg.clone(), slot, emitter.clone()));
                }
                Err(_) => {
                    emitter.emit(WsEvent::SessionRefused { code: None, cap });
                    drop(stream);
                }
            }
            continue;
        };
        let conn = stats.sessions_opened.fetch_add(1, Ordering::AcqRel) + 1;
        let ctx = SessionCtx {
            conn,
            cfg: cfg.clone(),
            emitter: emitter.clone(),
            stats: stats.clone(),
        };
        crate::rt::spawn(async move {
            run_session(stream, ctx).await;
            // The session's place under the cap is free once it ended.
            drop(permit);
        });
    }
}

/// Refuses one connection over the cap: its handshake, then close 1013.
/// Holds `slot` (one of [`MAX_REFUSING`]) until done. Either bounded wait
/// running out is traced as its deadline (`ws.server.handshake`,
/// `ws.server.close-grace`).
async fn refuse<S: NetStream>(
    stream: S,
    cfg: Arc<WsConfig>,
    slot: OwnedSemaphorePermit,
    emitter: Emitter,
) {
    let handshake = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_async_with_config(stream, Some(cfg.tungstenite())),
    )
    .await;
    match handshake {
        Ok(Ok(mut ws)) => {
            let frame = CloseFrame {
                code: CloseCode::from(TRY_AGAIN_LATER),
                reason: "try again later".into(),
            };
            if tokio::time::timeout(cfg.close_grace, ws.close(Some(frame)))
                .await
                .is_err()
            {
                emitter.deadline_fired("ws.server.close-grace");
            }
        }
        Ok(Err(_)) => {}
        Err(_) => emitter.deadline_fired("ws.server.handshake"),
    }
    drop(slot);
}
