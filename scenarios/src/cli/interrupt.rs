//! Ctrl-C and SIGTERM: a run stops taking seeds, finishes the ones in
//! flight, prints what it has, and exits 130 (SIGINT) or 143 (SIGTERM).
//!
//! Owns [`Interrupts`]: one process-wide stop flag the batches watch, and
//! which signal set it. Registration uses `signal-hook`'s flag handlers
//! (async-signal-safe: the handler only stores to an atomic). It never
//! decides anything inside a simulation: the runner only stops handing out
//! seeds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// The process's interrupt flags.
#[derive(Debug)]
pub struct Interrupts {
    stop: Arc<AtomicBool>,
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

static INTERRUPTS: OnceLock<Result<Interrupts, String>> = OnceLock::new();

impl Interrupts {
    /// Registers the handlers (once per process) and returns the flags.
    pub fn install() -> Result<&'static Interrupts, String> {
        INTERRUPTS
            .get_or_init(|| {
                let i = Interrupts {
                    stop: Arc::new(AtomicBool::new(false)),
                    int: Arc::new(AtomicBool::new(false)),
                    term: Arc::new(AtomicBool::new(false)),
                };
                let reg = |sig, flag: &Arc<AtomicBool>| {
                    signal_hook::flag::register(sig, flag.clone())
                        .map(|_| ())
                        .map_err(|e| format!("cannot handle signal {sig}: {e}"))
                };
                reg(signal_hook::consts::SIGINT, &i.stop)?;
                reg(signal_hook::consts::SIGINT, &i.int)?;
                reg(signal_hook::consts::SIGTERM, &i.stop)?;
                reg(signal_hook::consts::SIGTERM, &i.term)?;
                Ok(i)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The flag batches watch.
    pub fn flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// Has a signal arrived?
    pub fn fired(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// 130 after SIGINT, 143 after SIGTERM, `None` without a signal.
    pub fn exit_code(&self) -> Option<u8> {
        if self.term.load(Ordering::Acquire) {
            Some(143)
        } else if self.int.load(Ordering::Acquire) {
            Some(130)
        } else {
            None
        }
    }
}
