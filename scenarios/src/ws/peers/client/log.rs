//! The plugin's command log, sans-IO: what it sent, what was answered, what
//! is still outstanding, on the current connection.
//!
//! Owns [`Log`]: every command registered under its `seq` with the time it
//! was queued; an answer removes its command and every one sent before it
//! (those were lost: a gap); a connection's end loses whatever still waits;
//! a sample reads the log as a [`WsClientEvent::Progress`]. Pure data and
//! methods that take `now` as an argument: it must never do I/O, read a
//! clock or record anything (the driver records what it returns).

use super::events::WsClientEvent;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// A duration in whole milliseconds, as the trace prints waits.
pub(super) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// One command waiting for its answer.
#[derive(Debug, Clone)]
struct Waiting {
    at: Instant,
    cmd: String,
    traced: bool,
}

/// What an answer settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Answered {
    /// The answered command is traced (not `params`).
    pub traced: bool,
    /// How long it waited for its answer.
    pub wait: Duration,
    /// Commands sent before it and still waiting, `(seq, type)`: they will
    /// never be answered.
    pub lost: Vec<(u64, String)>,
}

/// The command log of one plugin, across its connections.
#[derive(Debug, Default)]
pub(super) struct Log {
    conn: u64,
    connected: bool,
    next_seq: u64,
    waiting: BTreeMap<u64, Waiting>,
    commands: u64,
    answered: u64,
    max_wait: Duration,
    sending_since: Option<Instant>,
    slices: u64,
}

impl Log {
    /// A connection is up: its number (from 1), with fresh counters.
    pub fn begin(&mut self) -> u64 {
        self.conn += 1;
        self.connected = true;
        self.commands = 0;
        self.answered = 0;
        self.max_wait = Duration::ZERO;
        self.waiting.clear();
        self.conn
    }

    /// The connection ended at `now`: how many commands it leaves
    /// unanswered, and the oldest one's wait. They are forgotten.
    pub fn end(&mut self, now: Instant) -> (u64, Duration) {
        self.connected = false;
        self.sending_since = None;
        let oldest = self.oldest_wait(now);
        let n = self.waiting.len() as u64;
        self.waiting.clear();
        (n, oldest)
    }

    /// The next command sequence number (global, from 1).
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Command `seq` of type `cmd` was queued at `now`.
    pub fn register(&mut self, seq: u64, cmd: impl Into<String>, traced: bool, now: Instant) {
        self.commands += 1;
        self.waiting.insert(
            seq,
            Waiting {
                at: now,
                cmd: cmd.into(),
                traced,
            },
        );
    }

    /// An answer to `seq` arrived at `now`; `None` if `seq` is not waiting.
    pub fn answer(&mut self, seq: u64, now: Instant) -> Option<Answered> {
        let w = self.waiting.remove(&seq)?;
        let lost: Vec<(u64, String)> = self
            .waiting
            .range(..seq)
            .map(|(s, w)| (*s, w.cmd.clone()))
            .collect();
        for (s, _) in &lost {
            self.waiting.remove(s);
        }
        let wait = now - w.at;
        self.answered += 1;
        self.max_wait = self.max_wait.max(wait);
        Some(Answered {
            traced: w.traced,
            wait,
            lost,
        })
    }

    /// A send began at `now`.
    pub fn send_started(&mut self, now: Instant) {
        self.sending_since = Some(now);
    }

    /// The send in progress finished (or failed).
    pub fn send_done(&mut self) {
        self.sending_since = None;
    }

    /// A slice arrived.
    pub fn slice(&mut self) {
        self.slices += 1;
    }

    /// The log as a sample at `now` (and a new period for the longest
    /// answer wait), or `None` while no connection is up.
    pub fn progress(&mut self, now: Instant) -> Option<WsClientEvent> {
        if !self.connected {
            return None;
        }
        let e = WsClientEvent::Progress {
            conn: self.conn,
            commands: self.commands,
            answered: self.answered,
            outstanding: self.waiting.len() as u64,
            oldest_wait_ms: ms(self.oldest_wait(now)),
            max_wait_ms: ms(self.max_wait),
            send_stuck_ms: self.sending_since.map(|t| ms(now - t)).unwrap_or(0),
            slices: self.slices,
        };
        self.max_wait = Duration::ZERO;
        Some(e)
    }

    /// Connections made so far.
    pub fn connections(&self) -> u64 {
        self.conn
    }

    /// Is a connection up?
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// Commands queued and answered on the current connection.
    pub fn commands(&self) -> (u64, u64) {
        (self.commands, self.answered)
    }

    fn oldest_wait(&self, now: Instant) -> Duration {
        self.waiting
            .values()
            .map(|w| now - w.at)
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn answers_in_order_settle_one_command_each() {
        let t0 = Instant::now();
        let mut log = Log::default();
        assert_eq!(log.begin(), 1);
        let (a, b) = (log.next_seq(), log.next_seq());
        assert_eq!((a, b), (1, 2));
        log.register(a, "params", false, at(t0, 0));
        log.register(b, "write_audio", true, at(t0, 10));
        assert_eq!(
            log.answer(a, at(t0, 40)),
            Some(Answered {
                traced: false,
                wait: Duration::from_millis(40),
                lost: vec![],
            })
        );
        let got = log.answer(b, at(t0, 100)).unwrap();
        assert!(got.traced && got.lost.is_empty());
        assert_eq!(got.wait, Duration::from_millis(90));
        assert_eq!(log.commands(), (2, 2));
        // A second answer to the same command answers nothing.
        assert_eq!(log.answer(b, at(t0, 110)), None);
    }

    #[test]
    fn an_answer_that_skips_a_command_loses_it() {
        let t0 = Instant::now();
        let mut log = Log::default();
        log.begin();
        for (seq, cmd) in [(1, "write_audio"), (2, "params"), (3, "params")] {
            log.register(seq, cmd, seq == 1, t0);
        }
        let got = log.answer(3, at(t0, 5)).unwrap();
        assert_eq!(
            got.lost,
            vec![(1, "write_audio".to_string()), (2, "params".to_string())]
        );
        assert_eq!(log.commands(), (3, 1));
        assert_eq!(log.answer(1, at(t0, 6)), None);
    }

    #[test]
    fn samples_read_waits_and_reset_the_longest_answer() {
        let t0 = Instant::now();
        let mut log = Log::default();
        assert_eq!(log.progress(t0), None);
        let conn = log.begin();
        log.register(1, "params", false, t0);
        log.register(2, "params", false, at(t0, 100));
        log.answer(1, at(t0, 300));
        log.send_started(at(t0, 400));
        log.slice();
        assert_eq!(
            log.progress(at(t0, 1_000)),
            Some(WsClientEvent::Progress {
                conn,
                commands: 2,
                answered: 1,
                outstanding: 1,
                oldest_wait_ms: 900,
                max_wait_ms: 300,
                send_stuck_ms: 600,
                slices: 1,
            })
        );
        log.send_done();
        let Some(WsClientEvent::Progress {
            max_wait_ms,
            send_stuck_ms,
            ..
        }) = log.progress(at(t0, 2_000))
        else {
            panic!("connected: a sample")
        };
        assert_eq!((max_wait_ms, send_stuck_ms), (0, 0));
    }

    #[test]
    fn a_connection_end_loses_what_waits_and_the_next_starts_fresh() {
        let t0 = Instant::now();
        let mut log = Log::default();
        log.begin();
        let (a, b) = (log.next_seq(), log.next_seq());
        log.register(a, "write_audio", true, t0);
        log.register(b, "params", false, at(t0, 50));
        log.send_started(at(t0, 60));
        assert_eq!(log.end(at(t0, 250)), (2, Duration::from_millis(250)));
        assert!(!log.connected());
        assert_eq!(log.progress(at(t0, 300)), None);
        assert_eq!(log.begin(), 2);
        assert_eq!((log.connections(), log.commands()), (2, (0, 0)));
        // Sequence numbers go on across connections; the old ones are gone.
        assert_eq!(log.next_seq(), 3);
        assert_eq!(log.answer(a, at(t0, 400)), None);
    }
}
