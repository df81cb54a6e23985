//! The WebSocket control/audio session (seed-systems.md §1, "rtmg").
//!
//! A client (upstream: a VST plugin) drives a real-time audio engine over one
//! WebSocket: JSON text commands (`params` at a high rate, and the headers
//! `write_audio` / `set_timbre_source` / `swap_source` announcing a binary
//! payload that follows), answered one for one and in order; the server
//! pushes multi-MB mirrors and stems after a swap and small slices all the
//! time; a keepalive pings the client and closes the session with 1011 when a
//! pong does not come back within its deadline.
//!
//! # Concurrency structure (kept from upstream)
//!
//! One connection, three users, **one lock** ([`conn::Conn`], a
//! `tokio::sync::Mutex` around the tokio-tungstenite stream — upstream's
//! `protocol_mutex`):
//!
//! - the **reader** takes the lock for short read turns and feeds frames to
//!   the sans-IO [`receive::Receiver`];
//! - the **bulk writer** sends answers and pushes from the session's outbound
//!   queue;
//! - the **keepalive** sends pings and watches their deadline.
//!
//! # The two known bugs and their fixes
//!
//! - `bulk-send-starves-recv`: pre-fix, a push is one whole message sent with
//!   the lock held until the last byte left. A client whose reads are gated
//!   behind its own sends (the plugin, mid-upload) stops reading, the send
//!   blocks on the full socket, the reader cannot take the lock to drain the
//!   client's upload, and both sides wedge until the keepalive kills the
//!   session. Fixed ([`fragment::SendPolicy`]): a push goes out as one
//!   fragmented message of ~256 KiB pieces, the lock released between pieces
//!   **and** whenever a piece cannot be written because the peer's window is
//!   full. The second half is ours: upstream's fragments alone still wedge
//!   when the window is already full as the client starts a large upload
//!   (the loom model in `core/tests/loom_ws.rs` shows both).
//! - `orphan-binary-header`: pre-fix, the read after a header takes whatever
//!   comes next, for as long as it takes. Fixed ([`receive`]): the payload
//!   wait is bounded (10 s) and typed; a missing or wrong payload answers the
//!   header's `*_failed`, a command found in the payload slot is still
//!   dispatched (upstream dropped it), and the session lives on.
//!
//! | module | owns | must never |
//! |---|---|---|
//! | [`protocol`] | the JSON vocabulary (commands, answers, push headers) | carry anything but plain data |
//! | [`receive`] | the sans-IO receive state machine (headers, payload slot, deadline) | do I/O or read a clock |
//! | [`fragment`] | the send policy and the fragment split, sans-IO | exceed the chunk size |
//! | [`payload`] | deterministic payload contents and their CRC-32 | draw from an unseeded source |
//! | [`conn`] | the one connection lock, its bounded read turns and non-blocking sends | hold the lock while waiting on the peer, except on the pre-fix path |
//! | [`session`] | one session's tasks: reader, bulk writer, keepalive, engine | let a task outlive its session |
//! | [`stats`] | [`ServerStats`], the server-wide counters | depend on the rest of the component |
//! | [`server`] | the accept loop | know which network it runs on |
//! | [`event`] | [`WsEvent`], the component's trace events | format anything with addresses or wall time |
//!
//! tungstenite masks client frames with keys from `rand`'s thread RNG. The
//! masks never reach a decision, a size or the trace, so runs stay
//! deterministic.

pub mod conn;
pub mod event;
pub mod fragment;
pub mod payload;
pub mod protocol;
pub mod receive;
pub mod server;
pub mod session;
pub mod stats;

pub use event::{Push, WsEvent};
pub use server::{serve_on, serve_ws};
pub use stats::ServerStats;

use crate::bugs::BugSet;
use std::time::Duration;

/// Upstream's `chunked_ws_send` piece size.
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Upstream's binary-payload wait.
pub const PAYLOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code of a keepalive kill ("internal error", as websockets sends it).
pub const KEEPALIVE_CLOSE_CODE: u16 = 1011;
/// Largest message either side accepts (upstream server: `max_size=100 MiB`).
pub const MAX_MESSAGE: usize = 100 * 1024 * 1024;

/// Everything a ws server needs. Timings are simulated time under turmoil.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Where to listen, `ip:port`.
    pub listen: String,
    pub bugs: BugSet,
    /// Seeds the engine's draws (generation delays, push sizes).
    pub seed: u64,
    /// Fragment size of bulk sends.
    pub chunk_size: usize,
    /// How long the reader waits for a header's binary payload.
    pub payload_timeout: Duration,
    /// A ping is due this often.
    pub keepalive_interval: Duration,
    /// A ping's pong must arrive within this long of the ping being due.
    pub keepalive_timeout: Duration,
    /// The longest the reader holds the lock per read turn.
    pub read_turn: Duration,
    /// How long a (fixed-path) sender whose bytes the peer's window cannot
    /// take waits, without the lock, before trying again.
    pub write_backoff: Duration,
    /// How long closing may try to get a close frame out.
    pub close_grace: Duration,
    /// Simulated generation time of a swap, drawn in this range.
    pub generation_delay: (Duration, Duration),
    /// Bytes of the post-swap source mirror, drawn in this range.
    pub mirror_bytes: (usize, usize),
    /// Bytes of each stem (vocals, instruments), drawn in this range.
    pub stem_bytes: (usize, usize),
    /// A slice is produced this often.
    pub slice_interval: Duration,
    pub slice_bytes: (usize, usize),
    /// Slices are shed while more than this many bytes wait to be sent.
    pub slice_window: usize,
}

impl WsConfig {
    pub fn new(listen: &str, bugs: BugSet, seed: u64) -> WsConfig {
        WsConfig {
            listen: listen.to_string(),
            bugs,
            seed,
            chunk_size: CHUNK_SIZE,
            payload_timeout: PAYLOAD_TIMEOUT,
            keepalive_interval: Duration::from_secs(2),
            keepalive_timeout: Duration::from_secs(4),
            read_turn: Duration::from_millis(10),
            write_backoff: Duration::from_millis(10),
            close_grace: Duration::from_millis(200),
            generation_delay: (Duration::from_millis(100), Duration::from_millis(400)),
            mirror_bytes: (512 * 1024, 1536 * 1024),
            stem_bytes: (1024 * 1024, 2560 * 1024),
            slice_interval: Duration::from_millis(500),
            slice_bytes: (8 * 1024, 32 * 1024),
            slice_window: 256 * 1024,
        }
    }

    /// The same server with every timing divided by `factor` (sizes kept):
    /// the bench runs a scenario in real time on loopback, scaled down.
    pub fn scaled(self, factor: u32) -> WsConfig {
        let k = factor.max(1);
        let (gen_min, gen_max) = self.generation_delay;
        WsConfig {
            payload_timeout: self.payload_timeout / k,
            keepalive_interval: self.keepalive_interval / k,
            keepalive_timeout: self.keepalive_timeout / k,
            read_turn: self.read_turn / k,
            write_backoff: self.write_backoff / k,
            close_grace: self.close_grace / k,
            generation_delay: (gen_min / k, gen_max / k),
            slice_interval: self.slice_interval / k,
            ..self
        }
    }

    /// The most bytes a session's outbound queue can hold by design: one
    /// swap's pushes (mirror + two stems) + the slice window + one slice +
    /// headroom for answers.
    pub fn queue_bound(&self) -> u64 {
        (self.mirror_bytes.1 + 2 * self.stem_bytes.1 + self.slice_window + self.slice_bytes.1)
            as u64
            + 64 * 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_divides_every_timing_and_keeps_sizes() {
        let base = WsConfig::new("0.0.0.0:8080", BugSet::NONE, 7);
        let s = base.clone().scaled(20);
        assert_eq!(s.keepalive_interval, Duration::from_millis(100));
        assert_eq!(s.keepalive_timeout, Duration::from_millis(200));
        assert_eq!(s.payload_timeout, Duration::from_millis(500));
        assert_eq!(s.slice_interval, Duration::from_millis(25));
        assert_eq!(
            s.generation_delay,
            (Duration::from_millis(5), Duration::from_millis(20))
        );
        assert_eq!(s.read_turn, base.read_turn / 20);
        assert_eq!(s.write_backoff, base.write_backoff / 20);
        assert_eq!(s.close_grace, base.close_grace / 20);
        assert_eq!(s.queue_bound(), base.queue_bound());
        assert_eq!((s.seed, s.chunk_size), (7, CHUNK_SIZE));
        assert_eq!(
            base.clone().scaled(0).keepalive_timeout,
            base.keepalive_timeout
        );
    }
}
