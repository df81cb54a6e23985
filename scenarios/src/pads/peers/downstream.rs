//! What is linked downstream of the simulated element's pads (`gst` host):
//! decoders and sinks, as far as the pads' contract goes.
//!
//! Implements core's [`Downstream`] and judges each pad instance as a real
//! downstream would: a buffer needs caps first, and caps matching the
//! buffer's codec configuration; buffers of a pad arrive in order; nothing
//! arrives after the pad was removed. Every breach is recorded as a
//! [`DownstreamEvent::Violation`] (checks fail on it); caps, EOS, flush and
//! removal are recorded too, so a trace shows each pad's life without one
//! line per buffer. Per-pad counters are exposed for the final facts.

use relaysim_core::session::pads::element::Downstream;
use relaysim_core::session::pads::{Buffer, Caps};
use relaysim_harness::Recorder;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What downstream saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownstreamEvent {
    /// The pad received caps.
    Caps {
        /// The pads session number.
        session: u64,
        /// The pad name.
        pad: String,
        /// The track configuration (caps) number.
        config: u32,
    },
    /// The pad received EOS.
    Eos {
        /// The pads session number.
        session: u64,
        /// The pad name.
        pad: String,
    },
    /// The pad received a flush.
    Flush {
        /// The pads session number.
        session: u64,
        /// The pad name.
        pad: String,
    },
    /// The pad was removed after `buffers` buffers.
    Removed {
        /// The pads session number.
        session: u64,
        /// The pad name.
        pad: String,
        /// Buffers received.
        buffers: u64,
    },
    /// The pad's contract was broken: `rule` is one of [`RULE_CAPS`],
    /// [`RULE_ORDER`].
    Violation {
        /// The pads session number.
        session: u64,
        /// The pad name.
        pad: String,
        /// The rule broken.
        rule: &'static str,
        /// What was seen.
        what: String,
    },
}

/// A buffer needs caps describing its codec configuration first.
pub const RULE_CAPS: &str = "caps-before-buffers";
/// A pad's buffers arrive in order, and none after its EOS.
pub const RULE_ORDER: &str = "in-order";

impl fmt::Display for DownstreamEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownstreamEvent::Caps {
                session,
                pad,
                config,
            } => write!(f, "ds.caps session={session} pad={pad} config={config}"),
            DownstreamEvent::Eos { session, pad } => {
                write!(f, "ds.eos session={session} pad={pad}")
            }
            DownstreamEvent::Flush { session, pad } => {
                write!(f, "ds.flush session={session} pad={pad}")
            }
            DownstreamEvent::Removed {
                session,
                pad,
                buffers,
            } => write!(
                f,
                "ds.removed session={session} pad={pad} buffers={buffers}"
            ),
            DownstreamEvent::Violation {
                session,
                pad,
                rule,
                what,
            } => write!(
                f,
                "ds.violation session={session} pad={pad} rule={rule} what={what:?}"
            ),
        }
    }
}

/// One pad instance as downstream knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PadView {
    /// The caps (configuration) in force.
    pub caps: Option<u32>,
    /// Buffers received.
    pub buffers: u64,
    /// The last buffer sequence number.
    pub last_seq: Option<u64>,
    /// When the last buffer arrived (simulated time).
    pub last_buffer_at: Option<Duration>,
    /// EOS received?
    pub eos: bool,
    /// Flush received?
    pub flushed: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// Pads not yet removed, by (session, pad).
    live: BTreeMap<(u64, String), PadView>,
    removed: u64,
    violations: u64,
    buffers: u64,
}

/// The downstream of every pad of one element.
#[derive(Debug)]
pub struct GstDownstream {
    host: &'static str,
    inner: Mutex<Inner>,
    recorder: Arc<Recorder>,
}

impl GstDownstream {
    /// A fresh peer recording into `recorder`.
    pub fn new(host: &'static str, recorder: Arc<Recorder>) -> Arc<GstDownstream> {
        Arc::new(GstDownstream {
            host,
            inner: Mutex::new(Inner::default()),
            recorder,
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, e: DownstreamEvent) {
        self.recorder.peer(self.host, e);
    }

    fn violation(
        &self,
        inner: &mut Inner,
        session: u64,
        pad: &str,
        rule: &'static str,
        what: String,
    ) {
        inner.violations += 1;
        self.record(DownstreamEvent::Violation {
            session,
            pad: pad.to_string(),
            rule,
            what,
        });
    }

    /// Pads not removed yet, with what they received.
    pub fn live(&self) -> BTreeMap<(u64, String), PadView> {
        self.inner().live.clone()
    }

    /// (buffers, pads removed, violations) over the run.
    pub fn totals(&self) -> (u64, u64, u64) {
        let i = self.inner();
        (i.buffers, i.removed, i.violations)
    }
}

fn now() -> Duration {
    relaysim_harness::engine::elapsed().unwrap_or_default()
}

impl Downstream for GstDownstream {
    fn caps(&self, session: u64, pad: &str, caps: &Caps) {
        let mut i = self.inner();
        let view = i.live.entry((session, pad.to_string())).or_default();
        view.caps = Some(caps.config);
        drop(i);
        self.record(DownstreamEvent::Caps {
            session,
            pad: pad.to_string(),
            config: caps.config,
        });
    }

    fn buffer(&self, session: u64, pad: &str, b: &Buffer) {
        let mut i = self.inner();
        i.buffers += 1;
        let view = i
            .live
            .entry((session, pad.to_string()))
            .or_default()
            .clone();
        let mut problems = Vec::new();
        match view.caps {
            None => problems.push((RULE_CAPS, format!("buffer seq={} before any caps", b.seq))),
            Some(c) if c != b.config => problems.push((
                RULE_CAPS,
                format!(
                    "buffer seq={} of config {} under caps config {c}",
                    b.seq, b.config
                ),
            )),
            Some(_) => {}
        }
        if let Some(last) = view.last_seq {
            if b.seq <= last {
                problems.push((RULE_ORDER, format!("buffer seq={} after seq={last}", b.seq)));
            }
        }
        if view.eos {
            problems.push((RULE_ORDER, format!("buffer seq={} after EOS", b.seq)));
        }
        if let Some(v) = i.live.get_mut(&(session, pad.to_string())) {
            v.buffers += 1;
            v.last_seq = Some(b.seq);
            v.last_buffer_at = Some(now());
        }
        for (rule, what) in problems {
            self.violation(&mut i, session, pad, rule, what);
        }
    }

    fn eos(&self, session: u64, pad: &str) {
        let mut i = self.inner();
        i.live.entry((session, pad.to_string())).or_default().eos = true;
        drop(i);
        self.record(DownstreamEvent::Eos {
            session,
            pad: pad.to_string(),
        });
    }

    fn flush(&self, session: u64, pad: &str) {
        let mut i = self.inner();
        i.live
            .entry((session, pad.to_string()))
            .or_default()
            .flushed = true;
        drop(i);
        self.record(DownstreamEvent::Flush {
            session,
            pad: pad.to_string(),
        });
    }

    fn removed(&self, session: u64, pad: &str) {
        let mut i = self.inner();
        let view = i.live.remove(&(session, pad.to_string()));
        i.removed += 1;
        drop(i);
        self.record(DownstreamEvent::Removed {
            session,
            pad: pad.to_string(),
            buffers: view.map(|v| v.buffers).unwrap_or(0),
        });
    }
}
