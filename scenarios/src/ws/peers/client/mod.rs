//! The simulated rtmg plugin (`ws-client` host): a WebSocket client modelled
//! on the upstream VST (seed-systems.md §1.3).
//!
//! Its defining trait is the one that wedged production: **its reads are
//! gated behind its own sends**. One task owns the socket; while anything is
//! queued to send it sends (a multi-MB upload goes out whole, awaited to the
//! last byte) and only when the queue is empty does it read. It sends
//! `params` at a high rate, uploads (`write_audio`, `set_timbre_source`,
//! `swap_source` + a multi-MB binary) and server swaps on the plan's
//! command, and misbehaves on command too: orphan headers, a command in a
//! payload slot, missing, late and stray payloads, unknown commands, stalls.
//! It reconnects after a session ends.
//!
//! Every command gets a global `seq`; answers must come back one for one, in
//! order. The command log is kept here, the omniscient outside view, never
//! in the server: an answer that skips an outstanding command records a
//! [`WsClientEvent::Gap`] (the command was lost), and a separate task
//! samples the log every `progress_interval` so a client wedged in its own
//! send is still seen. `params` traffic is summarized by those samples, not
//! traced one by one.
//!
//! | part | owns | must never |
//! |---|---|---|
//! | this file | the client's settings ([`ClientConfig`], [`PORT`], [`CONNECT_TIMEOUT`]) and the public names | hold behaviour |
//! | `events` | [`WsClientEvent`], what it records, and its trace lines | do I/O or read a clock |
//! | `log` | the sans-IO command log: what was sent, answered, outstanding, per connection | do I/O or read a clock (time is an argument) |
//! | `driver` | [`WsClient`] and the async loop over a [`Net`] stream: connect, send, read, reconnect, [`ResetWatch`], [`serve`] / [`serve_on`] | decide what a command's answer means (the log does) |
//!
//! Its plan vocabulary is the family's [`Fault`](crate::ws::Fault), which
//! the world hands it through [`WsClient::apply`].
//!
//! It runs on any [`Net`]: [`serve`] is the turmoil host (segmented
//! `SimNet`, resets seen through turmoil's stream count), [`serve_on`]
//! takes the network and a [`ResetWatch`] (the bench runs it on `TokioNet`
//! over loopback with [`ClientConfig::scaled`] timings). It never reads a
//! wall clock: every timing is tokio's, simulated under turmoil.
//!
//! [`Net`]: relaysim_core::net::Net

mod driver;
mod events;
mod log;

pub use driver::{serve, serve_on, ResetWatch, WsClient, RESET_POLL};
pub use events::WsClientEvent;

use std::time::Duration;

/// The port the ws server listens on.
pub const PORT: u16 = 8080;
/// How long connecting (TCP + WebSocket handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The plugin's settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server, `host:port`.
    pub server: String,
    /// `params` are sent this often.
    pub params_interval: Duration,
    /// The command log is sampled this often.
    pub progress_interval: Duration,
    /// Wait before reconnecting.
    pub reconnect_delay: Duration,
    /// Maximum segment size of its socket writes.
    pub mss: usize,
    /// Names upload contents.
    pub seed: u64,
    /// Give a connection up when nothing came from the server for this
    /// long (websockets' client-side ping timeout: a half-open link is
    /// noticed); `None` waits for ever, as the upstream plugin does.
    pub idle_timeout: Option<Duration>,
    /// Trace each connect attempt and its TCP connection
    /// (`ws.client.connecting`, `ws.client.tcp-up`): the boundaries of the
    /// connect and handshake phases in `ws-phases`.
    pub trace_connects: bool,
}

impl ClientConfig {
    /// The same plugin with every interval divided by `factor` (the
    /// real-time comparison runs the scenario's timings scaled down).
    pub fn scaled(self, factor: u32) -> ClientConfig {
        let k = factor.max(1);
        ClientConfig {
            params_interval: self.params_interval / k,
            progress_interval: self.progress_interval / k,
            reconnect_delay: self.reconnect_delay / k,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_divides_intervals_and_keeps_sizes() {
        let cfg = ClientConfig {
            server: "ws-server:8080".into(),
            params_interval: Duration::from_millis(50),
            progress_interval: Duration::from_secs(2),
            reconnect_delay: Duration::from_millis(500),
            mss: 16 * 1024,
            seed: 3,
            idle_timeout: None,
            trace_connects: false,
        }
        .scaled(20);
        assert_eq!(cfg.params_interval, Duration::from_micros(2_500));
        assert_eq!(cfg.progress_interval, Duration::from_millis(100));
        assert_eq!(cfg.reconnect_delay, Duration::from_millis(25));
        assert_eq!((cfg.mss, cfg.seed), (16 * 1024, 3));
    }
}
