//! Phase coverage: which phases of a family's connections a fault reached,
//! and which of the core's deadlines and fault points fired.
//!
//! Owns [`Phase`] (connect, handshake, steady, teardown, reconnect),
//! [`Span`] (one connection in one phase, between two hosts, from and to a
//! simulated time), [`Window`] (a fault active on a link), the family-blind
//! reading of fault windows from a trace ([`fault_windows`]), the overlap
//! rule ([`faulted`]) and the three coverage verdicts every family builds
//! its `sometimes` checks from: [`phase_reached`], [`deadline_reached`] and
//! [`fault_point_reached`] (with the [`phase_check!`](crate::phase_check),
//! [`deadline_check!`](crate::deadline_check) and
//! [`fault_point_check!`](crate::fault_point_check) macros, one line per
//! check).
//!
//! A family derives its spans from its own trace (what its peers and the
//! core reported about each connection), never from the system's
//! bookkeeping; this module only intersects them with the faults. It never
//! judges safety or liveness: a phase, deadline or fault point that no
//! seed reaches is a `coverage` failure of the batch, nothing more.

use crate::check::{RunView, Verdict};
use crate::fault::{NetFault, Scope};
use crate::trace::{EntryKind, HarnessEvent, Trace};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A phase of a connection or session's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// From the first connect attempt until the transport is up.
    Connect,
    /// From the transport up until the protocol is ready (RTMP handshake
    /// and publish, WebSocket upgrade, a join).
    Handshake,
    /// Ready and carrying traffic.
    Steady,
    /// From the first step of an orderly end until the connection is gone.
    Teardown,
    /// A connect (and its handshake) that follows an earlier connection of
    /// the same key.
    Reconnect,
}

impl Phase {
    /// Every phase, in life order.
    pub const ALL: [Phase; 5] = [
        Phase::Connect,
        Phase::Handshake,
        Phase::Steady,
        Phase::Teardown,
        Phase::Reconnect,
    ];

    /// The lower-case name used in check names.
    pub const fn name(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Handshake => "handshake",
            Phase::Steady => "steady",
            Phase::Teardown => "teardown",
            Phase::Reconnect => "reconnect",
        }
    }

    /// The phase named `name` (as in [`Phase::name`]).
    pub fn parse(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One connection in one phase, between two hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The phase.
    pub phase: Phase,
    /// One end (host name).
    pub a: String,
    /// The other end.
    pub b: String,
    /// When the phase began.
    pub from: Duration,
    /// When it ended (the run's end if it never did).
    pub to: Duration,
}

impl Span {
    /// A span of `phase` on the link `a`~`b`.
    pub fn new(
        phase: Phase,
        a: impl Into<String>,
        b: impl Into<String>,
        from: Duration,
        to: Duration,
    ) -> Span {
        Span {
            phase,
            a: a.into(),
            b: b.into(),
            from,
            to,
        }
    }
}

/// A fault active between two times, where its [`Scope`] says: a link
/// (network faults, family faults that name theirs) or a host (a crash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// What the fault is (its timeline band label, e.g. `blackhole a~b`).
    pub label: String,
    /// Where it acts.
    pub scope: Scope,
    /// When it began.
    pub from: Duration,
    /// When it ended (closed, healed, or the run's end).
    pub to: Duration,
}

impl Window {
    fn on(&self, a: &str, b: &str) -> bool {
        self.scope.covers(a, b)
    }
}

/// Every fault window of a run, read from its trace: each fault step that
/// opens a timeline band (partition, hold, blackhole, crash, a family
/// fault with a band) until the step that closes the same band, or the
/// heal, or the end of the trace, acting where the step's [`Scope`] says.
/// A fault step without a band (an instant family fault) is a window of
/// zero length at its time. Steps with no scope leave no window: workload
/// steps (a publish, a start) and core fault points (a code path failing
/// inside a host, on no connection).
pub fn fault_windows(trace: &Trace) -> Vec<Window> {
    let mut open: BTreeMap<String, (Scope, Duration)> = BTreeMap::new();
    let mut out = Vec::new();
    let end = trace.entries.last().map(|e| e.at).unwrap_or_default();
    for e in &trace.entries {
        match &e.kind {
            EntryKind::Fault(step) => {
                let band = step.band();
                let closes = band.as_ref().is_some_and(|b| !b.open);
                if closes {
                    let label = band.map(|b| b.label).unwrap_or_default();
                    if let Some((scope, from)) = open.remove(&label) {
                        out.push(Window {
                            label,
                            scope,
                            from,
                            to: e.at,
                        });
                    }
                    continue;
                }
                let Some(scope) = step.scope() else {
                    continue;
                };
                match band {
                    Some(band) => {
                        open.entry(band.label).or_insert((scope, e.at));
                    }
                    None => out.push(Window {
                        label: step.to_string(),
                        scope,
                        from: e.at,
                        to: e.at,
                    }),
                }
            }
            EntryKind::Harness(HarnessEvent::Heal) => {
                for (label, (scope, from)) in std::mem::take(&mut open) {
                    out.push(Window {
                        label,
                        scope,
                        from,
                        to: e.at,
                    });
                }
            }
            _ => {}
        }
    }
    for (label, (scope, from)) in open {
        out.push(Window {
            label,
            scope,
            from,
            to: end,
        });
    }
    out.sort_by(|x, y| (x.from, &x.label).cmp(&(y.from, &y.label)));
    out
}

/// `true` if a window is active during the span, on its link or one of
/// its hosts (closed intervals: a fault that begins the instant a phase
/// ends reached it).
pub fn faulted(span: &Span, windows: &[Window]) -> bool {
    windows
        .iter()
        .any(|w| w.on(&span.a, &span.b) && w.from <= span.to && span.from <= w.to)
}

/// `true` if a network fault of the run is a blackhole (or its restore).
pub fn is_blackhole(n: &NetFault) -> bool {
    matches!(n, NetFault::Blackhole { .. } | NetFault::Restore { .. })
}

/// `Hit` if some span of `phase` in `spans` was faulted by one of the
/// run's [`fault_windows`].
pub fn phase_reached(view: &RunView<'_>, spans: &[Span], phase: Phase) -> Verdict {
    let windows = fault_windows(view.trace);
    Verdict::reached(
        spans
            .iter()
            .any(|s| s.phase == phase && faulted(s, &windows)),
    )
}

/// `Hit` if the core deadline `site` fired in this run.
pub fn deadline_reached(view: &RunView<'_>, site: &str) -> Verdict {
    Verdict::reached(deadline_fired(view.trace, site))
}

/// `true` if the trace has a `deadline.fired site=<site>` line.
pub fn deadline_fired(trace: &Trace, site: &str) -> bool {
    trace.entries.iter().any(
        |e| matches!(e.core(), Some(relaysim_core::Event::DeadlineFired { site: s }) if *s == site),
    )
}

/// The name of the coverage check for the core deadline `site`.
pub fn deadline_check_name(site: &str) -> String {
    format!("deadline:{site}")
}

/// A `sometimes` check that the core deadline `$site` fires:
/// `pub const X: Check = deadline_check!("restream.pump.connect");`. Its
/// name is `deadline:<site>` (what `catalog_covers_every_deadline` looks
/// for).
#[macro_export]
macro_rules! deadline_check {
    ($site:literal) => {
        $crate::check::Check {
            name: concat!("deadline:", $site),
            kind: $crate::check::CheckKind::Sometimes,
            about: concat!("the core deadline ", $site, " runs out"),
            eval: {
                fn eval(v: &$crate::check::RunView<'_>) -> $crate::check::Verdict {
                    $crate::phase::deadline_reached(v, $site)
                }
                eval
            },
        }
    };
}

/// `Reached` if the core's fault point `site` fired in this run.
pub fn fault_point_reached(view: &RunView<'_>, site: &str) -> Verdict {
    Verdict::reached(fault_point_fired(view.trace, site))
}

/// `true` if the trace has a `fault-point.fired site=<site>` line.
pub fn fault_point_fired(trace: &Trace, site: &str) -> bool {
    trace.entries.iter().any(|e| {
        matches!(e.core(), Some(relaysim_core::Event::FaultPointFired { site: s }) if *s == site)
    })
}

/// The name of the coverage check for the core's fault point `site`.
pub fn fault_point_check_name(site: &str) -> String {
    format!("fault-point:{site}")
}

/// A `sometimes` check that the core's fault point `$site` fires: a plan
/// that switches a site on proves nothing until the code passes it while
/// on. `pub const X: Check = fault_point_check!("ws.session.reset");`. Its
/// name is `fault-point:<site>` (what `catalog_covers_every_fault_point`
/// looks for).
#[macro_export]
macro_rules! fault_point_check {
    ($site:literal) => {
        $crate::check::Check {
            name: concat!("fault-point:", $site),
            kind: $crate::check::CheckKind::Sometimes,
            about: concat!("the core fault point ", $site, " fires"),
            eval: {
                fn eval(v: &$crate::check::RunView<'_>) -> $crate::check::Verdict {
                    $crate::phase::fault_point_reached(v, $site)
                }
                eval
            },
        }
    };
}

/// A `sometimes` check that a fault reaches phase `$phase` (a
/// [`Phase::name`]) of the connections `$spans` finds (a
/// `fn(&RunView) -> Vec<Span>` of the family's):
/// `pub const X: Check = phase_check!("pump", "connect", pump_spans);`.
/// Its name is `phase:<conn>:<phase>`.
#[macro_export]
macro_rules! phase_check {
    ($conn:literal, $phase:literal, $spans:path) => {
        $crate::check::Check {
            name: concat!("phase:", $conn, ":", $phase),
            kind: $crate::check::CheckKind::Sometimes,
            about: concat!(
                "a fault lands in the ",
                $phase,
                " phase of a ",
                $conn,
                " connection"
            ),
            eval: {
                fn eval(v: &$crate::check::RunView<'_>) -> $crate::check::Verdict {
                    let phase = $crate::phase::Phase::parse($phase)
                        .expect(concat!("phase_check!: unknown phase ", $phase));
                    $crate::phase::phase_reached(v, &$spans(v), phase)
                }
                eval
            },
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Facts;
    use crate::fault::Step;
    use crate::fault::TracedStep;
    use crate::trace::Entry;
    use std::sync::Arc;

    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
    enum Toy {
        /// A fault on the x~z link.
        Kick,
        /// Workload: no fault.
        Publish,
    }

    impl crate::fault::FamilyFault for Toy {
        const TYPE: &'static str = "Toy";
        fn scope(&self) -> Option<Scope> {
            match self {
                Toy::Kick => Some(Scope::link("x", "z")),
                Toy::Publish => None,
            }
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn fault(at: u64, step: Step<Toy>) -> Entry {
        let step: Arc<dyn TracedStep> = Arc::new(step);
        Entry {
            at: ms(at),
            host: "harness",
            kind: EntryKind::Fault(step),
        }
    }

    fn net(n: NetFault) -> Step<Toy> {
        Step::Net(n)
    }

    fn link(a: &str, b: &str) -> Scope {
        Scope::link(a, b)
    }

    #[test]
    fn windows_open_and_close_by_band_and_the_heal_closes_the_rest() {
        let trace = Trace {
            entries: vec![
                fault(
                    100,
                    net(NetFault::Blackhole {
                        a: "x".into(),
                        b: "y".into(),
                    }),
                ),
                fault(
                    200,
                    net(NetFault::Partition {
                        a: "x".into(),
                        b: "z".into(),
                    }),
                ),
                fault(
                    300,
                    net(NetFault::Restore {
                        a: "x".into(),
                        b: "y".into(),
                    }),
                ),
                fault(350, Step::App(Toy::Kick)),
                fault(360, Step::App(Toy::Publish)),
                fault(
                    365,
                    Step::Point {
                        site: "x.write".into(),
                        permille: 50,
                    },
                ),
                fault(370, net(NetFault::Crash { host: "y".into() })),
                Entry {
                    at: ms(400),
                    host: "harness",
                    kind: EntryKind::Harness(HarnessEvent::Heal),
                },
            ],
        };
        let w = fault_windows(&trace);
        assert_eq!(
            w.len(),
            4,
            "the workload step and the fault point leave no window: {w:?}"
        );
        assert_eq!(
            (w[0].label.as_str(), w[0].scope.clone(), w[0].from, w[0].to),
            ("blackhole x~y", link("x", "y"), ms(100), ms(300))
        );
        assert_eq!(
            (w[1].label.as_str(), w[1].from, w[1].to),
            ("partition x~z", ms(200), ms(400)),
            "closed by the heal"
        );
        assert_eq!(
            (w[2].scope.clone(), w[2].from, w[2].to),
            (link("x", "z"), ms(350), ms(350))
        );
        assert_eq!(
            (w[3].label.as_str(), w[3].scope.clone(), w[3].from, w[3].to),
            ("crash y", Scope::Host("y".into()), ms(370), ms(400))
        );
    }

    #[test]
    fn a_span_is_faulted_by_an_overlapping_window_on_its_link_or_host() {
        let on_xy = Window {
            label: "blackhole x~y".into(),
            scope: link("x", "y"),
            from: ms(100),
            to: ms(300),
        };
        let on_z = Window {
            label: "crash z".into(),
            scope: Scope::Host("z".into()),
            from: ms(500),
            to: ms(500),
        };
        let xy = [on_xy];
        let z = [on_z];
        let span = |a: &str, b: &str, from, to| Span::new(Phase::Connect, a, b, ms(from), ms(to));
        assert!(faulted(&span("y", "x", 250, 260), &xy), "either order");
        assert!(faulted(&span("x", "y", 300, 400), &xy), "touching ends");
        assert!(!faulted(&span("x", "y", 301, 400), &xy), "after");
        assert!(!faulted(&span("x", "z", 150, 200), &xy), "another link");
        assert!(faulted(&span("x", "z", 400, 600), &z), "a link of the host");
        assert!(!faulted(&span("x", "y", 400, 600), &z), "not the host's");
        assert!(!faulted(&span("x", "z", 501, 600), &z));
    }

    const CONNECT_FAULTED: crate::check::Check = crate::phase_check!("toy", "connect", toy_spans);
    const STEADY_FAULTED: crate::check::Check = crate::phase_check!("toy", "steady", toy_spans);
    const PUMP_CONNECT: crate::check::Check = crate::deadline_check!("restream.pump.connect");

    fn toy_spans(_: &RunView<'_>) -> Vec<Span> {
        vec![
            Span::new(Phase::Connect, "x", "y", ms(0), ms(150)),
            Span::new(Phase::Steady, "x", "y", ms(150), ms(1000)),
        ]
    }

    #[test]
    fn the_macros_build_named_sometimes_checks_that_judge_the_trace() {
        let facts = Facts::new();
        let view = |trace: &Trace| {
            let v = RunView {
                trace,
                facts: &facts,
                heal_at: ms(400),
                end: ms(1000),
            };
            (
                (CONNECT_FAULTED.eval)(&v),
                (STEADY_FAULTED.eval)(&v),
                (PUMP_CONNECT.eval)(&v),
            )
        };
        assert_eq!(CONNECT_FAULTED.name, "phase:toy:connect");
        assert_eq!(
            PUMP_CONNECT.name,
            deadline_check_name("restream.pump.connect")
        );
        let late = Trace {
            entries: vec![fault(
                200,
                net(NetFault::Hold {
                    a: "y".into(),
                    b: "x".into(),
                }),
            )],
        };
        assert_eq!(view(&late), (Verdict::Miss, Verdict::Hit, Verdict::Miss));
        let fired = Trace {
            entries: vec![Entry {
                at: ms(5),
                host: "relay",
                kind: EntryKind::Core(relaysim_core::Event::DeadlineFired {
                    site: "restream.pump.connect",
                }),
            }],
        };
        assert_eq!(view(&fired), (Verdict::Miss, Verdict::Miss, Verdict::Hit));
    }

    const RESET_FIRED: crate::check::Check = crate::fault_point_check!("ws.session.reset");

    /// A fault point's check hits only on a firing of its own site: a
    /// deadline of the same name, another site, or the plan switching the
    /// site on (without the code passing it) are misses.
    #[test]
    fn a_fault_point_check_hits_on_its_site_firing() {
        assert_eq!(RESET_FIRED.name, fault_point_check_name("ws.session.reset"));
        assert_eq!(RESET_FIRED.name, "fault-point:ws.session.reset");
        assert_eq!(RESET_FIRED.kind, crate::check::CheckKind::Sometimes);
        let facts = Facts::new();
        let judge = |kind: EntryKind| {
            let trace = Trace {
                entries: vec![Entry {
                    at: ms(5),
                    host: "ws-server",
                    kind,
                }],
            };
            (RESET_FIRED.eval)(&RunView {
                trace: &trace,
                facts: &facts,
                heal_at: ms(400),
                end: ms(1000),
            })
        };
        use relaysim_core::Event;
        let point = |site| EntryKind::Core(Event::FaultPointFired { site });
        assert_eq!(judge(point("ws.session.reset")), Verdict::Hit);
        assert_eq!(judge(point("pads.track.read")), Verdict::Miss);
        assert_eq!(
            judge(EntryKind::Core(Event::DeadlineFired {
                site: "ws.session.reset"
            })),
            Verdict::Miss
        );
    }
}
