//! The one typed event vocabulary of the core, and its single emit point.
//!
//! Owns [`Event`], [`Emitter`], the [`EventSink`] trait and the
//! [`ComponentEvent`] accessor. [`Event`] has one variant per component,
//! each wrapping that component's own enum (defined in the component's
//! `event` module, with its normalized line form), plus
//! [`Event::FaultPointFired`] and [`Event::DeadlineFired`], the emit
//! machinery's own events. Every
//! observable step of the core goes through [`Emitter::emit`], which hands
//! the typed event to the run's sink (the harness's trace recorder) and to
//! `tracing` (target `relaysim::event`, so `tracing-test` can assert on it).
//! It must never read a clock: the sink stamps events with (simulated) time.
//!
//! | variant | component's enum | defined in |
//! |---|---|---|
//! | [`Event::Restream`] | [`RestreamEvent`] | [`crate::restream::event`] |
//! | [`Event::Transcode`] | [`TranscodeEvent`] | [`crate::transcode::event`] |
//! | [`Event::Ws`] | [`WsEvent`] | [`crate::session::ws::event`] |
//! | [`Event::Pads`] | [`PadsEvent`] | [`crate::session::pads::event`] |
//! | [`Event::Publisher`] | [`PublisherEvent`] | [`crate::session::publisher::event`] |

use crate::restream::RestreamEvent;
use crate::session::pads::PadsEvent;
use crate::session::publisher::PublisherEvent;
use crate::session::ws::WsEvent;
use crate::transcode::TranscodeEvent;
use std::fmt;
use std::sync::Arc;

/// Everything the core reports. One variant per component; the normalized
/// form is its `Display` (`name key=value …`), the component's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Ingest, VOD session fetches, egress (`restream`).
    Restream(RestreamEvent),
    /// The transcode component (registry, runner, drains, ingest bridge).
    Transcode(TranscodeEvent),
    /// A WebSocket session step (`session::ws`); its names start with `ws.`.
    Ws(WsEvent),
    /// The MoQ source's pad forwarding (`session::pads`).
    Pads(PadsEvent),
    /// The track publisher (`session::publisher`).
    Publisher(PublisherEvent),
    /// A fault point fired (see [`crate::faults`]); emitted by
    /// [`Emitter::fault_point`] on behalf of whichever component hit it.
    FaultPointFired { site: &'static str },
    /// A bounded wait ran out (see [`crate::deadlines`]); emitted by
    /// [`Emitter::deadline_fired`] on behalf of the component that waited.
    DeadlineFired { site: &'static str },
}

/// A component's event enum: what [`Event`] wraps in that component's
/// variant. `from_event` is the typed accessor (the one way to read a
/// component's events back out of an [`Event`]), `Into<Event>` lets
/// [`Emitter::emit`] take the component's enum directly.
pub trait ComponentEvent: Into<Event> + fmt::Display {
    /// `Some` if `event` is one of this component's.
    fn from_event(event: &Event) -> Option<&Self>;
}

macro_rules! component_events {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for Event {
            fn from(event: $ty) -> Event {
                Event::$variant(event)
            }
        }

        impl ComponentEvent for $ty {
            fn from_event(event: &Event) -> Option<&$ty> {
                match event {
                    Event::$variant(e) => Some(e),
                    _ => None,
                }
            }
        }
    )*};
}

component_events! {
    Restream(RestreamEvent),
    Transcode(TranscodeEvent),
    Ws(WsEvent),
    Pads(PadsEvent),
    Publisher(PublisherEvent),
}

impl Event {
    /// The dotted event name, first word of the normalized line.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Restream(e) => e.name(),
            Event::Transcode(e) => e.name(),
            Event::Ws(e) => e.name(),
            Event::Pads(e) => e.name(),
            Event::Publisher(e) => e.name(),
            Event::FaultPointFired { .. } => "fault-point.fired",
            Event::DeadlineFired { .. } => "deadline.fired",
        }
    }

    /// This event as component `T`'s, if it is one of them.
    pub fn get<T: ComponentEvent>(&self) -> Option<&T> {
        T::from_event(self)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Restream(e) => e.fmt(f),
            Event::Transcode(e) => e.fmt(f),
            Event::Ws(e) => e.fmt(f),
            Event::Pads(e) => e.fmt(f),
            Event::Publisher(e) => e.fmt(f),
            Event::FaultPointFired { site } | Event::DeadlineFired { site } => {
                write!(f, "{} site={site}", self.name())
            }
        }
    }
}

/// Where a run's events go. The harness implements it to record
/// `(sim time, host, event)`; it must not block.
pub trait EventSink: Send + Sync {
    fn record(&self, host: &'static str, event: Event);
}

/// The single emit point: a host name plus an optional sink. Cheap to clone;
/// every component holds one.
#[derive(Clone)]
pub struct Emitter {
    host: &'static str,
    sink: Option<Arc<dyn EventSink>>,
}

impl Emitter {
    pub fn new(host: &'static str, sink: Arc<dyn EventSink>) -> Emitter {
        Emitter {
            host,
            sink: Some(sink),
        }
    }

    /// An emitter that only reaches `tracing` (unit tests, real runs without
    /// a recorder).
    pub fn tracing_only(host: &'static str) -> Emitter {
        Emitter { host, sink: None }
    }

    pub fn host(&self) -> &'static str {
        self.host
    }

    /// Should the code fail at fault point `site` now? Fires only when the
    /// harness switched the site on for this run (see [`crate::faults`]);
    /// a firing is emitted like any other event.
    #[inline]
    pub fn fault_point(&self, site: &'static str) -> bool {
        let fired = crate::faults::fire(site);
        if fired {
            self.emit(Event::FaultPointFired { site });
        }
        fired
    }

    /// Reports that the bounded wait `site` ran out. Every site must be
    /// declared in [`crate::deadlines::SITES`] (debug builds assert it), or
    /// no scenario would be required to reach it.
    #[inline]
    pub fn deadline_fired(&self, site: &'static str) {
        debug_assert!(
            crate::deadlines::is_declared(site),
            "deadline `{site}` is not declared in relaysim_core::deadlines::SITES"
        );
        self.emit(Event::DeadlineFired { site });
    }

    /// Emits `event`: a component's enum (`RestreamEvent::PublishBegin { .. }`)
    /// or an [`Event`].
    pub fn emit(&self, event: impl Into<Event>) {
        let event = event.into();
        tracing::debug!(target: "relaysim::event", host = self.host, "{event}");
        if let Some(sink) = &self.sink {
            sink.record(self.host, event);
        }
    }
}

impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter").field("host", &self.host).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restream::event::FetchResult;
    use crate::session::pads::PadsEvent;

    /// What a sink saw: (host, event line).
    #[derive(Default)]
    struct Lines(std::sync::Mutex<Vec<(&'static str, String)>>);

    impl EventSink for Lines {
        fn record(&self, host: &'static str, event: Event) {
            self.0.lock().unwrap().push((host, event.to_string()));
        }
    }

    /// An emitter names its host, and its events (deadline firings
    /// included) reach its sink under that host, in order.
    #[test]
    fn an_emitter_records_under_its_host() {
        let lines = Arc::new(Lines::default());
        let e = Emitter::new("relay", lines.clone());
        assert_eq!(e.host(), "relay");
        assert_eq!(Emitter::tracing_only("obs").host(), "obs");
        e.deadline_fired("restream.ingest.idle");
        e.emit(Event::FaultPointFired {
            site: "ws.session.reset",
        });
        assert_eq!(
            *lines.0.lock().unwrap(),
            [
                (
                    "relay",
                    "deadline.fired site=restream.ingest.idle".to_string()
                ),
                (
                    "relay",
                    "fault-point.fired site=ws.session.reset".to_string()
                ),
            ]
        );
    }

    #[test]
    fn events_display_as_their_component_does() {
        let e = Event::from(RestreamEvent::VodFetchDone {
            dest: "twitch".into(),
            epoch: 0,
            result: FetchResult::Timeout,
        });
        assert_eq!(
            e.to_string(),
            "vod.fetch.done dest=twitch epoch=0 result=timeout"
        );
        assert_eq!(e.name(), "vod.fetch.done");
        let f = Event::FaultPointFired {
            site: "ws.session.reset",
        };
        assert_eq!(f.to_string(), "fault-point.fired site=ws.session.reset");
        assert_eq!(f.name(), "fault-point.fired");
    }

    #[test]
    fn the_accessor_finds_only_its_component() {
        let e = Event::from(PadsEvent::MainLoopStall { ms: 5 });
        assert_eq!(
            e.get::<PadsEvent>(),
            Some(&PadsEvent::MainLoopStall { ms: 5 })
        );
        assert_eq!(e.get::<RestreamEvent>(), None);
        assert_eq!(PadsEvent::from_event(&e), e.get::<PadsEvent>());
        assert!(TranscodeEvent::from_event(&Event::FaultPointFired { site: "x" }).is_none());
    }

    #[tracing_test::traced_test]
    #[test]
    fn emit_is_visible_to_tracing() {
        Emitter::tracing_only("relay").emit(RestreamEvent::PublishBegin { token: 7 });
        assert!(logs_contain("publish.begin token=7"));
    }
}
