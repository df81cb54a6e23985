//! The event trace of a run: `(sim time, host, event)`.
//!
//! Owns the [`Recorder`] (core's `EventSink`, plus world and fault entries),
//! the normalized line form, the trace hash and first-divergence search. A
//! trace line carries simulated time only — never wall time, ports or
//! addresses — so the same seed gives the same text, byte for byte:
//!
//! ```text
//!    6.012s server         fault-point.fired site=demo.write
//! ```

use crate::fault::{FamilyFault, Step, TracedStep};
use relaysim_core::event::{ComponentEvent, Event, EventSink};
use std::any::Any;
use std::fmt::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An event of a simulated peer (a family's outside world). Any plain,
/// printable type is one; its `Display` is its normalized trace text
/// (`name key=value …`). Read it back with [`Entry::peer`].
pub trait PeerEvent: Any + fmt::Debug + fmt::Display + Send + Sync {
    /// For downcasting to the peer's own type.
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any + fmt::Debug + fmt::Display + Send + Sync> PeerEvent for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Events of the harness itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarnessEvent {
    /// Faults stopped: the liveness phase begins.
    Heal,
    /// The determinism canary (`RELAYSIM_CANARY_NONDETERMINISM`): a line
    /// that differs between processes, to prove the checks catch it.
    Canary {
        /// The process id.
        pid: u32,
    },
}

impl fmt::Display for HarnessEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessEvent::Heal => write!(f, "heal"),
            HarnessEvent::Canary { pid } => write!(f, "canary pid={pid}"),
        }
    }
}

/// What an entry holds.
#[derive(Debug, Clone)]
pub enum EntryKind {
    /// An event of the core (`relaysim_core::Event`).
    Core(Event),
    /// An event of a family's peer.
    Peer(Arc<dyn PeerEvent>),
    /// A plan step, as applied (a `Step<F>` of the scenario's family).
    Fault(Arc<dyn TracedStep>),
    /// An event of the harness.
    Harness(HarnessEvent),
}

impl PartialEq for EntryKind {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (EntryKind::Core(a), EntryKind::Core(b)) => a == b,
            (EntryKind::Harness(a), EntryKind::Harness(b)) => a == b,
            // Type-erased entries compare by their normalized text.
            (EntryKind::Peer(a), EntryKind::Peer(b)) => a.to_string() == b.to_string(),
            (EntryKind::Fault(a), EntryKind::Fault(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

impl Eq for EntryKind {}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryKind::Core(e) => e.fmt(f),
            EntryKind::Peer(e) => e.fmt(f),
            EntryKind::Fault(e) => e.fmt(f),
            EntryKind::Harness(e) => e.fmt(f),
        }
    }
}

/// One trace entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Simulated time.
    pub at: Duration,
    /// The host that emitted it.
    pub host: &'static str,
    /// What happened.
    pub kind: EntryKind,
}

impl Entry {
    /// The core event, if this is one.
    pub fn core(&self) -> Option<&Event> {
        match &self.kind {
            EntryKind::Core(e) => Some(e),
            _ => None,
        }
    }

    /// The core event as component `T`'s (`e.event::<ItsEvent>()`), if it
    /// is one of them.
    pub fn event<T: ComponentEvent>(&self) -> Option<&T> {
        self.core().and_then(T::from_event)
    }

    /// The peer event of type `T`, if this is one.
    pub fn peer<T: PeerEvent>(&self) -> Option<&T> {
        match &self.kind {
            EntryKind::Peer(e) => e.as_ref().as_any().downcast_ref(),
            _ => None,
        }
    }

    /// The plan step of family fault type `F`, if this is one.
    pub fn fault<F: FamilyFault>(&self) -> Option<&Step<F>> {
        match &self.kind {
            EntryKind::Fault(e) => e.as_ref().as_any().downcast_ref(),
            _ => None,
        }
    }

    /// The harness event, if this is one.
    pub fn harness(&self) -> Option<&HarnessEvent> {
        match &self.kind {
            EntryKind::Harness(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.at.as_millis();
        write!(
            f,
            "{:>5}.{:03}s {:<14} {}",
            ms / 1000,
            ms % 1000,
            self.host,
            self.kind
        )
    }
}

/// Collects a run's entries. Shared (`Arc`) by every host of one simulation;
/// with capture off it records nothing (benchmarks of the bare world).
#[derive(Debug)]
pub struct Recorder {
    entries: Mutex<Vec<Entry>>,
    capture: bool,
}

impl Recorder {
    /// A recorder that captures.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            entries: Mutex::new(Vec::with_capacity(256)),
            capture: true,
        })
    }

    /// A recorder that drops everything.
    pub fn disabled() -> Arc<Recorder> {
        Arc::new(Recorder {
            entries: Mutex::new(Vec::new()),
            capture: false,
        })
    }

    /// The time to stamp an entry with: the current host's simulated
    /// clock, or — outside any host (a `Drop` while a runtime is torn
    /// down) — the latest time recorded, never `0.000s`.
    fn now(&self) -> Duration {
        crate::engine::elapsed().unwrap_or_else(|| {
            self.entries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .last()
                .map_or(Duration::ZERO, |e| e.at)
        })
    }

    fn push(&self, entry: Entry) {
        if self.capture {
            self.entries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(entry);
        }
    }

    /// Records a peer's event, stamped with the current simulated time.
    pub fn peer(&self, host: &'static str, event: impl PeerEvent) {
        if !self.capture {
            return;
        }
        let at = self.now();
        self.push(Entry {
            at,
            host,
            kind: EntryKind::Peer(Arc::new(event)),
        });
    }

    /// Records an entry at an explicit time (the runner, outside any host).
    pub fn at(&self, at: Duration, host: &'static str, kind: EntryKind) {
        self.push(Entry { at, host, kind });
    }

    /// The trace so far.
    pub fn snapshot(&self) -> Trace {
        Trace {
            entries: self
                .entries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

impl EventSink for Recorder {
    fn record(&self, host: &'static str, event: Event) {
        let at = self.now();
        self.push(Entry {
            at,
            host,
            kind: EntryKind::Core(event),
        });
    }
}

/// A finished run's entries, in recording order: turmoil runs hosts one at
/// a time, so this is simulated-time order up to one tick (within one step
/// each host's clock has its own value, so a line may precede one stamped
/// a millisecond earlier by another host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// Every entry, in recording order.
    pub entries: Vec<Entry>,
}

impl Trace {
    /// The normalized text: one line per entry.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.entries.len() * 64);
        for e in &self.entries {
            let _ = writeln!(s, "{e}");
        }
        s
    }

    /// The lines up to and including simulated time `until`.
    pub fn text_until(&self, until: Duration) -> String {
        let mut s = String::new();
        for e in self.entries.iter().take_while(|e| e.at <= until) {
            let _ = writeln!(s, "{e}");
        }
        s
    }

    /// FNV-1a 64 of the normalized text, as 16 hex digits.
    pub fn hash(&self) -> String {
        hash_text(&self.text())
    }

    /// The last `n` lines at or before `until`.
    pub fn tail(&self, until: Duration, n: usize) -> Vec<String> {
        let upto: Vec<&Entry> = self.entries.iter().take_while(|e| e.at <= until).collect();
        upto[upto.len().saturating_sub(n)..]
            .iter()
            .map(|e| e.to_string())
            .collect()
    }
}

/// FNV-1a 64 of a text, as 16 hex digits.
pub fn hash_text(text: &str) -> String {
    use std::hash::Hasher;
    let mut h = fnv::FnvHasher::default();
    h.write(text.as_bytes());
    format!("{:016x}", h.finish())
}

/// Where two traces first differ: `(line number from 1, left, right)`.
pub fn first_divergence(a: &str, b: &str) -> Option<(usize, String, String)> {
    let mut la = a.lines();
    let mut lb = b.lines();
    let mut n = 0;
    loop {
        n += 1;
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                return Some((
                    n,
                    x.unwrap_or("<end of trace>").to_string(),
                    y.unwrap_or("<end of trace>").to_string(),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format_is_stable() {
        let e = Entry {
            at: Duration::from_millis(6012),
            host: "server",
            kind: EntryKind::Core(Event::FaultPointFired { site: "demo.write" }),
        };
        assert_eq!(
            e.to_string(),
            format!(
                "    6.012s server         {}",
                Event::FaultPointFired { site: "demo.write" }
            )
        );
        // A core entry is neither a peer's nor any component's event.
        assert!(e.peer::<HarnessEvent>().is_none());
        assert!(e.core().is_some());
    }

    #[derive(Debug)]
    struct Up {
        n: u64,
    }

    impl fmt::Display for Up {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "peer.up n={}", self.n)
        }
    }

    #[test]
    fn peer_events_read_back_by_type() {
        let e = Entry {
            at: Duration::from_millis(450),
            host: "peer",
            kind: EntryKind::Peer(Arc::new(Up { n: 1 })),
        };
        assert_eq!(e.to_string(), "    0.450s peer           peer.up n=1");
        assert_eq!(e.peer::<Up>().map(|u| u.n), Some(1));
        assert!(e.peer::<HarnessEvent>().is_none());
        assert!(e.core().is_none());
    }

    #[test]
    fn divergence() {
        assert_eq!(first_divergence("a\nb\n", "a\nb\n"), None);
        assert_eq!(
            first_divergence("a\nb\nc\n", "a\nx\n"),
            Some((2, "b".into(), "x".into()))
        );
        assert_eq!(
            first_divergence("a\n", "a\nb\n"),
            Some((2, "<end of trace>".into(), "b".into()))
        );
        assert_ne!(hash_text("a"), hash_text("b"));
    }
}
