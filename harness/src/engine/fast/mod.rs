//! The fast engine: a deterministic event-driven network on one paused
//! current-thread tokio runtime per seed.
//!
//! Owns the runtime of a fast run (seeded from the run's seed through
//! tokio's `RngSeed`), hosts as task groups (a task belongs to the host
//! whose task spawned it, tracked with the runtime's task hooks), the
//! network driver task that delivers the fabric's queue in (time,
//! sequence) order and sleeps to the next delivery, and the link verbs the
//! runner applies. Time only moves when every task is idle: tokio's paused
//! clock auto-advances to the next timer or delivery, so there is no tick.
//! It must never read the wall clock, spawn an OS thread, or let the order
//! of a hash map reach a delivery.

mod fabric;
mod socket;

pub use socket::{FastListener, FastStream};

pub(crate) use fabric::active;
pub(crate) use socket::{bind, connect};

use crate::scenario::NetParams;
use fabric::{Fabric, HostId};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::task::Id;
use tokio::time::{Instant, Sleep};

thread_local! {
    /// Which host each live task belongs to.
    static TASK_HOST: RefCell<BTreeMap<Id, HostId>> = const { RefCell::new(BTreeMap::new()) };
}

/// Simulated time since the start of the current fast run, if one is live
/// on this thread and its clock can be read.
pub(crate) fn elapsed() -> Option<Duration> {
    tokio::runtime::Handle::try_current().ok()?;
    let mut out = None;
    fabric::try_with(|f| out = Some(Instant::now().saturating_duration_since(f.start)));
    out
}

/// Established streams of the current host (turmoil's
/// `established_tcp_stream_count`).
pub(crate) fn established() -> usize {
    let h = fabric::current_host().expect("fast engine: not inside a host task");
    fabric::with(|f| f.hosts[h].established)
}

/// The delivery driver: delivers every due packet, then sleeps until the
/// next one (or until a send arms an earlier deadline).
async fn driver() {
    let mut sleep: Pin<Box<Sleep>> = Box::pin(tokio::time::sleep(Duration::ZERO));
    std::future::poll_fn(move |cx| loop {
        let now = Instant::now();
        while let Some(p) = fabric::with(|f| f.pop_due(now)) {
            fabric::with(|f| f.deliver(p));
        }
        let next = fabric::with(|f| {
            let next = f.next_due();
            f.armed = next;
            if !f.driver.as_ref().is_some_and(|d| d.will_wake(cx.waker())) {
                f.driver = Some(cx.waker().clone());
            }
            next
        });
        let Some(at) = next else {
            return Poll::<()>::Pending;
        };
        if at <= Instant::now() {
            continue;
        }
        if sleep.deadline() != at {
            sleep.as_mut().reset(at);
        }
        if sleep.as_mut().poll(cx).is_ready() {
            continue;
        }
        return Poll::Pending;
    })
    .await;
}

/// A host's software, restartable (`None` for a client, which runs once).
type Software = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>>;

/// `relaysim_core::rt`'s adopter on a fast run's thread: the spawning
/// task's host keeps the new task's abort handle (finished ones are
/// dropped as the list grows).
fn adopt(task: tokio::task::AbortHandle) {
    let Some(h) = fabric::current_host() else {
        return;
    };
    fabric::try_with(|f| {
        let tasks = &mut f.hosts[h].tasks;
        if tasks.len() >= 64 && tasks.len().is_power_of_two() {
            tasks.retain(|t| !t.is_finished());
        }
        tasks.push(task);
    });
}

/// One fast run's runtime and fabric. Only one may be live per thread.
pub struct Sim {
    rt: Option<tokio::runtime::Runtime>,
    start: Instant,
    /// Each host's software, by host id.
    software: Vec<Option<Software>>,
}

impl Sim {
    /// A fast run seeded by `seed` with the scenario's link parameters.
    pub fn new(seed: u64, params: NetParams) -> Sim {
        assert!(
            !fabric::active(),
            "fast engine: a run is already live on this thread"
        );
        let mut b = tokio::runtime::Builder::new_current_thread();
        b.enable_time().start_paused(true);
        #[cfg(tokio_unstable)]
        {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&seed.to_le_bytes());
            bytes[8..16].copy_from_slice(b"relaysim");
            b.rng_seed(tokio::runtime::RngSeed::from_bytes(&bytes));
            b.unhandled_panic(tokio::runtime::UnhandledPanic::ShutdownRuntime);
            b.on_task_spawn(|meta| {
                if let Some(h) = fabric::current_host() {
                    TASK_HOST.with_borrow_mut(|m| m.insert(meta.id(), h));
                }
            });
            b.on_before_task_poll(|meta| {
                let h = TASK_HOST.with_borrow(|m| m.get(&meta.id()).copied());
                fabric::set_current_host(h);
            });
            b.on_after_task_poll(|_| {
                fabric::set_current_host(None);
            });
            b.on_task_terminate(|meta| {
                TASK_HOST.with_borrow_mut(|m| m.remove(&meta.id()));
            });
        }
        #[cfg(not(tokio_unstable))]
        panic!("the fast engine needs --cfg tokio_unstable (set in .cargo/config.toml)");
        #[allow(unreachable_code)]
        let rt = b.build().expect("fast engine: tokio runtime");
        let start = rt.block_on(async { Instant::now() });
        fabric::install(Fabric::new(seed, params, start));
        {
            let _g = rt.enter();
            #[allow(clippy::disallowed_methods)] // the engine's own task, no host's
            tokio::spawn(driver());
        }
        relaysim_core::rt::set_adopter(Some(adopt));
        Sim {
            rt: Some(rt),
            start,
            software: Vec::new(),
        }
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("fast engine: runtime")
    }

    /// Registers a host and starts its software (restarted by a bounce).
    pub fn host<F, Fut, E>(&mut self, name: &str, software: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + 'static,
    {
        // Errors cross as text: the software's error type need not be Send.
        let software: Software = Box::new(move || {
            let fut = software();
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        });
        let id = fabric::with(|f| f.add_host(name));
        self.start_software(id, name, software());
        self.software.push(Some(software));
    }

    /// Registers a host whose software runs once (it cannot be crashed or
    /// bounced: there is nothing to restart).
    pub fn client<Fut, E>(&mut self, name: &str, software: Fut)
    where
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + 'static,
    {
        let id = fabric::with(|f| f.add_host(name));
        let fut = Box::pin(async move { software.await.map_err(|e| e.to_string()) });
        self.start_software(id, name, fut);
        self.software.push(None);
    }

    /// Spawns `fut` as host `id`'s root task.
    fn start_software(
        &mut self,
        id: HostId,
        name: &str,
        fut: Pin<Box<dyn Future<Output = Result<(), String>> + Send>>,
    ) {
        let name = name.to_string();
        let _g = self.rt().enter();
        let prev = fabric::set_current_host(Some(id));
        #[allow(clippy::disallowed_methods)] // the root task; adopted below
        let root = tokio::spawn(async move {
            if let Err(e) = fut.await {
                let msg = format!("host {name} failed: {e}");
                fabric::with(|f| {
                    f.host_error.get_or_insert(msg);
                });
            }
        });
        fabric::with(|f| f.hosts[id].tasks.push(root.abort_handle()));
        fabric::set_current_host(prev);
    }

    /// Crashes host `name`: aborts every task of its software and takes
    /// the machine down. The aborted tasks' sockets close (FIN, or RST
    /// where data was unread) when the runtime next runs, at the same
    /// simulated time; its ports stop listening at once; a connect to it
    /// gets no answer until the bounce refuses it (turmoil's behaviour). Panics for a client, and for a host with a task
    /// spawned outside `relaysim_core::rt::spawn` (say, by a dependency):
    /// the engine could not abort it, and a crash that leaves a task
    /// running would be a lie. turmoil crashes such a host.
    pub fn crash(&mut self, name: &str) {
        let h = fabric::with(|f| f.host_named(name))
            .unwrap_or_else(|| panic!("fast engine: no host {name:?} to crash"));
        assert!(
            self.software[h].is_some(),
            "cannot crash {name}: it was registered as a client (its software runs once)"
        );
        let tasks = fabric::with(|f| std::mem::take(&mut f.hosts[h].tasks));
        let adopted: std::collections::BTreeSet<Id> = tasks
            .iter()
            .filter(|t| !t.is_finished())
            .map(tokio::task::AbortHandle::id)
            .collect();
        let strays = TASK_HOST.with_borrow(|m| {
            m.iter()
                .filter(|(id, host)| **host == h && !adopted.contains(id))
                .count()
        });
        assert!(
            strays == 0,
            "fast engine: cannot crash {name}: {strays} of its tasks were spawned outside \
             relaysim_core::rt::spawn (by a dependency?) and cannot be aborted; \
             crash it on the turmoil engine"
        );
        for t in &tasks {
            t.abort();
        }
        fabric::with(|f| f.take_down(h));
    }

    /// Restarts host `name`'s software from scratch, crashing it first.
    pub fn bounce(&mut self, name: &str) {
        self.crash(name);
        let h = fabric::with(|f| f.host_named(name)).expect("crashed above");
        let fut = (self.software[h].as_ref().expect("checked by crash"))();
        {
            let _g = self.rt().enter();
            fabric::with(|f| f.bring_up(h));
        }
        self.start_software(h, name, fut);
    }

    /// Runs every host until simulated time `t` since the start, or until
    /// a host's software returns an error (then returned).
    pub fn run_until(&mut self, t: Duration) -> Result<(), String> {
        let at = self.start + t;
        self.rt()
            .block_on(async move { tokio::time::sleep_until(at).await });
        match fabric::with(|f| f.host_error.take()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        let _g = self.rt().enter();
        Instant::now().saturating_duration_since(self.start)
    }

    /// Packets delivered so far.
    pub fn delivered(&self) -> u64 {
        fabric::with(|f| f.delivered)
    }

    /// Cuts the link between two hosts (both directions).
    pub fn partition(&mut self, a: &str, b: &str) {
        fabric::with(|f| {
            let (a, b) = f.host_pair(a, b);
            f.partition(a, b);
        });
    }

    /// Repairs a cut link (streams that lost a segment stay stalled).
    pub fn repair(&mut self, a: &str, b: &str) {
        fabric::with(|f| {
            let (a, b) = f.host_pair(a, b);
            f.repair(a, b);
        });
    }

    /// Holds the link: packets wait on it until released.
    pub fn hold(&mut self, a: &str, b: &str) {
        fabric::with(|f| {
            let (a, b) = f.host_pair(a, b);
            f.hold(a, b);
        });
    }

    /// Ends a blackhole (a held link): what it parked is lost, then the
    /// link is healthy.
    pub fn restore(&mut self, a: &str, b: &str) {
        fabric::with(|f| {
            let (a, b) = f.host_pair(a, b);
            f.restore(a, b);
        });
    }

    /// Releases a held link.
    pub fn release(&mut self, a: &str, b: &str) {
        let _g = self.rt().enter();
        fabric::with(|f| {
            let (a, b) = f.host_pair(a, b);
            f.release(a, b);
        });
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        relaysim_core::rt::set_adopter(None);
        // Tasks (and the sockets they hold) go while the fabric still exists.
        fabric::try_with(|f| f.closing = true);
        drop(self.rt.take());
        fabric::uninstall();
        TASK_HOST.with_borrow_mut(BTreeMap::clear);
    }
}
