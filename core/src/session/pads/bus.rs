//! The application bus and the session's once-only error slot.
//!
//! Owns [`BusMessage`] (what the element posts on the application's bus)
//! and [`ErrorSlot`]: the session's terminal error is reported on the bus
//! exactly once, whichever part (controller or any pump) hits it first, and
//! never after `stop` began. The bus post is thread-safe (as
//! `gst::element_error!` is), so an error never waits for the main loop. It
//! must never depend on the controller, the pumps or `stop`, which all hold
//! the slot (it names only the component's events).

use crate::event::Emitter;
use crate::session::pads::event::PadsEvent;
use crate::sync::{AtomicBool, Ordering};
use tokio::sync::mpsc;

/// What the element posts on the application's bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusMessage {
    /// The session's terminal error (upstream: an element error).
    Error { session: u64, error: String },
}

/// A session's error slot: the first report wins.
#[derive(Debug)]
pub struct ErrorSlot {
    session: u64,
    reported: AtomicBool,
    closed: AtomicBool,
    bus: mpsc::UnboundedSender<BusMessage>,
    emitter: Emitter,
}

impl ErrorSlot {
    pub fn new(
        session: u64,
        bus: mpsc::UnboundedSender<BusMessage>,
        emitter: Emitter,
    ) -> std::sync::Arc<ErrorSlot> {
        std::sync::Arc::new(ErrorSlot {
            session,
            reported: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            bus,
            emitter,
        })
    }

    /// Reports `error` if it is the session's first; true if it was.
    pub fn report(&self, error: String) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        if self.reported.swap(true, Ordering::AcqRel) {
            self.emitter.emit(PadsEvent::ErrorSuppressed {
                session: self.session,
                error,
            });
            return false;
        }
        self.emitter.emit(PadsEvent::Error {
            session: self.session,
            error: error.clone(),
        });
        let _ = self.bus.send(BusMessage::Error {
            session: self.session,
            error,
        });
        true
    }

    /// `stop` began: errors of a session being torn down are not errors.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub fn reported(&self) -> bool {
        self.reported.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_error_wins_and_stop_silences() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let slot = ErrorSlot::new(4, tx, Emitter::tracing_only("gst"));
        assert!(!slot.reported(), "nothing reported yet");
        assert!(slot.report("a".into()));
        assert!(slot.reported(), "the first report won");
        assert!(!slot.report("b".into()));
        assert_eq!(
            rx.try_recv().unwrap(),
            BusMessage::Error {
                session: 4,
                error: "a".into()
            }
        );
        assert!(rx.try_recv().is_err(), "reported once");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let slot = ErrorSlot::new(5, tx, Emitter::tracing_only("gst"));
        slot.close();
        assert!(!slot.report("late".into()));
        assert!(rx.try_recv().is_err());
        assert!(!slot.reported());
    }
}
