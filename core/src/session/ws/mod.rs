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
//! # Hostile peers
//!
//! Nothing a client sends may crash the server, stop it, or make it hold
//! unbounded memory:
//!
//! - a protocol error ends the session with the close frame it deserves —
//!   1002 for malformed frames, 1007 for non-UTF-8 text or text that is not
//!   a JSON object, 1009 for a frame over `max_frame` or a message over
//!   `max_message` (tungstenite's limits, checked before the bytes are
//!   buffered) — and a peer's close frame is echoed ([`session`]);
//! - a failed `accept()` is traced and waited out with a backoff, never the
//!   end of the server; at most `max_sessions` sessions run at once, and a
//!   connection over the cap is refused with 1013 ([`server`]);
//! - each session's outbound queue is bounded by `max_queued`: a slice that
//!   does not fit is shed, an answer or a push that does not fit closes the
//!   session with 1008 ([`session`]).
//!
//! So a server holds at most about `max_sessions` × (`max_message` +
//! `max_queued`) bytes on behalf of its clients.
//!
//! # Contract
//!
//! Oracles per clause: `docs/contracts.md`.
//!
//! - **S1** Commands are answered one for one, in order: none is consumed
//!   as a payload, and no payload is applied to a header whose payload
//!   never came.
//! - **S2** Every push and upload arrives with the sender's bytes,
//!   fragmented or not.
//! - **S3** A session's queued outbound bytes stay within `max_queued`; a
//!   server's memory for its clients stays within the bound above.
//! - **S4** The keepalive closes a session only after the peer was
//!   unreachable for at least 3 s.
//! - **S5** Protocol errors close with the code they deserve (1002, 1007,
//!   1008, 1009, 1013), and a peer's close is echoed.
//! - **S6** A swap pushes exactly the parts its `swap_ready` announced
//!   (the mirror, then the stems), all of them before the next swap's
//!   `swap_ready` on that connection.
//! - **L1** While link and client are healthy, every command is answered
//!   within 3 s; after a heal the client is connected and answered.
//! - **L2** A peer unreachable for 7 s or more is closed (1011) within
//!   6.5 s.
//! - **R1** A session's tasks (reader, writer, keepalive, engine) end with
//!   it; a failed accept never ends the server.
//!
//! | module | owns | must never |
//! |---|---|---|
//! | [`protocol`] | the JSON vocabulary (commands, answers, push headers) and the one text parser | carry anything but plain data; let a client's text grow an answer unboundedly |
//! | [`receive`] | the sans-IO receive state machine (headers, payload slot, deadline) | do I/O, read a clock, or buffer |
//! | [`fragment`] | the send policy and the fragment split, sans-IO | exceed the chunk size |
//! | [`payload`] | deterministic payload contents and their CRC-32 | draw from an unseeded source |
//! | [`budget`] | a session's outbound byte budget (reserve if it fits, release, peak) and its swap slot | block, do I/O, or decide what a refusal means |
//! | [`conn`] | the one connection lock, its bounded read turns, non-blocking sends, and close frames (sent, echoed) | hold the lock while waiting on the peer, except on the pre-fix path; wait past its grace to close |
//! | [`session`] | one session's tasks: reader, bulk writer, keepalive, engine; its bounded outbound queue and how it closes | let a task outlive its session; queue past its limit |
//! | [`stats`] | [`ServerStats`], the server-wide counters | depend on the rest of the component |
//! | [`server`] | the accept loop, the session cap and refusals, the backoff after a failed accept | know which network it runs on; stop serving, or spin, on a failed accept |
//! | [`event`] | [`WsEvent`], the component's trace events | format anything with addresses or wall time |
//!
//! tungstenite masks client frames with keys from `rand`'s thread RNG. The
//! masks never reach a decision, a size or the trace, so runs stay
//! deterministic.

pub mod budget;
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
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Upstream's `chunked_ws_send` piece size.
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Upstream's binary-payload wait.
pub const PAYLOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code of a keepalive kill ("internal error", as websockets sends it).
pub const KEEPALIVE_CLOSE_CODE: u16 = close_code::INTERNAL;
/// Largest message either side accepts (upstream server: `max_size=100 MiB`).
pub const MAX_MESSAGE: usize = 100 * 1024 * 1024;
/// Sessions one server runs at once, by default (handshakes included).
pub const MAX_SESSIONS: usize = 256;

/// The close codes a session ends with (RFC 6455 §7.4.1).
pub mod close_code {
    /// The peer broke the WebSocket framing (a malformed or unexpected
    /// frame: reserved bits or opcodes, an unmasked client frame, a
    /// continuation with no message, a fragmented or oversized control frame).
    pub const PROTOCOL: u16 = 1002;
    /// A message whose data does not fit its type: non-UTF-8 text, or text
    /// that is not a JSON object (the protocol's text messages all are).
    pub const INVALID_DATA: u16 = 1007;
    /// The peer let the session's outbound queue fill up (see
    /// [`super::WsConfig::max_queued`]).
    pub const POLICY: u16 = 1008;
    /// A frame or message over the size limits.
    pub const TOO_BIG: u16 = 1009;
    /// The keepalive's deadline passed (as websockets sends it).
    pub const INTERNAL: u16 = 1011;
    /// The server is at its session cap: try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

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
    /// Largest message a client may send (tungstenite's `max_message_size`);
    /// a bigger one closes the session with 1009.
    pub max_message: usize,
    /// Largest single frame a client may send (tungstenite's
    /// `max_frame_size`, checked on the frame header, before its payload is
    /// read); a bigger one closes the session with 1009.
    pub max_frame: usize,
    /// Sessions run at once, handshakes included. A connection over the cap
    /// is refused with close 1013 (see [`server`]).
    pub max_sessions: usize,
    /// The most bytes a session's outbound queue may hold; `None` is
    /// [`WsConfig::queue_bound`], the most a well-behaved client can make it
    /// hold. A slice that would not fit is shed; an answer or a push that
    /// would not fit closes the session with 1008 (see [`session`]).
    pub max_queued: Option<u64>,
    /// The first pause after a failed `accept()`; it doubles on every
    /// further failure in a row, up to `accept_backoff_max`.
    pub accept_backoff: Duration,
    pub accept_backoff_max: Duration,
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
            max_message: MAX_MESSAGE,
            max_frame: MAX_MESSAGE,
            max_sessions: MAX_SESSIONS,
            max_queued: None,
            accept_backoff: crate::net::AcceptBackoff::FIRST,
            accept_backoff_max: crate::net::AcceptBackoff::MAX,
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
            accept_backoff: self.accept_backoff / k,
            accept_backoff_max: self.accept_backoff_max / k,
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

    /// The outbound queue's limit: [`WsConfig::max_queued`], or by default
    /// [`WsConfig::queue_bound`].
    pub fn queue_limit(&self) -> u64 {
        self.max_queued.unwrap_or_else(|| self.queue_bound())
    }

    /// The server side's WebSocket settings: the size limits above, and
    /// the read chunk of [`session::READ_CHUNK`].
    pub fn tungstenite(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message))
            .max_frame_size(Some(self.max_frame))
            .read_buffer_size(session::READ_CHUNK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The upstream sizes: 256 KiB send pieces, 100 MiB messages.
    #[test]
    fn upstream_sizes() {
        assert_eq!(CHUNK_SIZE, 262_144);
        assert_eq!(MAX_MESSAGE, 104_857_600);
    }

    /// The queue bound is one swap's pushes at their largest (a mirror and
    /// two stems), the slice window, one more slice and 64 KiB for answers.
    #[test]
    fn the_queue_bound_holds_one_swap_a_window_and_a_slice() {
        let cfg = WsConfig {
            mirror_bytes: (1, 1_000),
            stem_bytes: (1, 30),
            slice_window: 500,
            slice_bytes: (1, 7),
            ..WsConfig::new("0.0.0.0:8080", BugSet::NONE, 7)
        };
        assert_eq!(cfg.queue_bound(), 1_000 + 2 * 30 + 500 + 7 + 65_536);
    }

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
        assert_eq!(s.accept_backoff, base.accept_backoff / 20);
        assert_eq!(s.accept_backoff_max, base.accept_backoff_max / 20);
        assert_eq!(s.queue_limit(), base.queue_bound());
        assert_eq!(
            (s.max_message, s.max_frame, s.max_sessions),
            (MAX_MESSAGE, MAX_MESSAGE, MAX_SESSIONS)
        );
        assert_eq!(s.queue_bound(), base.queue_bound());
        assert_eq!((s.seed, s.chunk_size), (7, CHUNK_SIZE));
        assert_eq!(
            base.clone().scaled(0).keepalive_timeout,
            base.keepalive_timeout
        );
    }
}
