//! The transcode-slot server: the system under test of this example.
//!
//! A transcoding farm has `capacity` transcode slots. Clients connect over
//! the network seam ([`Net`]: `SimNet` in simulation, `TokioNet` on real
//! sockets) and speak a line protocol, one request and one answer per line:
//!
//! | client → server | server → client |
//! |---|---|
//! | `acquire <client>` | `granted`; `full` (no slot free); `denied` (the licence server said no, or did not answer in time) |
//! | `release` | `released` |
//!
//! Before it grants a slot the server asks the licence server — another
//! host, over the same seam, with its own latency — `may <client>`, and
//! waits at most [`SlotConfig::licence_timeout`] for `yes` or `no` (no
//! answer is a no). A connection holds at most one slot; anything else on
//! the wire (a second `acquire` while holding, a garbled line) closes it.
//!
//! # Contract
//!
//! - **Safety**: at no instant are more than `capacity` slots granted (or
//!   reserved for a request in flight) and not yet freed; no slot is
//!   granted without a licence `yes`.
//! - **Liveness**: every `acquire` is answered within the licence timeout
//!   plus a round trip; a `full` answer waits for nothing.
//! - **Resource lifecycle**: a slot is freed exactly once — by `release`,
//!   or when its connection ends (a client that hangs up or crashes frees
//!   its slot); a reservation is given back on a licence no, or when the
//!   server sees its connection end (at the latest once the licence answer
//!   is in); the server owns its connection tasks, so dropping
//!   [`serve`]'s future stops every one of them and frees their slots.
//!
//! | owns | must never |
//! |---|---|
//! | the slot table (conn → client, granted or reserved), one task per connection, one licence query per `acquire` | hold the table's lock across an await; read a clock other than `tokio::time`; name turmoil or the harness |
//!
//! # Events
//!
//! The core's `Event` enum is closed to core's components, so a component
//! written outside core reports its observable steps as an enum of its own,
//! [`SlotEvent`], through a sink trait of its own, [`SlotSink`] (the same
//! shape as core's `EventSink`). In simulation the family implements
//! `SlotSink` for `relaysim_harness::Recorder` by calling
//! `Recorder::peer(host, event)`: the event lands in the trace as a peer
//! entry, stamped with simulated time, printed by its `Display`
//! (`slots.granted client=client-a conn=3 held=2`), and read back by checks
//! with `entry.peer::<SlotEvent>()`. On real sockets any other sink will do.
//!
//! # Known bug
//!
//! [`SlotBugs::CheckThenAwait`] (`slots-check-then-await`): the pre-fix
//! `acquire` checks `held < capacity`, awaits the licence answer, then
//! inserts — so every request that arrives during the await passes the same
//! check. It is kept behind `bugs.on(SlotBugs::CheckThenAwait)` in
//! `SlotServer::acquire`, declared below with `relaysim_core::known_bugs!`
//! (a crate outside core declares its bugs on a type of its own).

use futures_util::{SinkExt, StreamExt};
use relaysim_core::net::{Net, NetListener};
use relaysim_core::{known_bugs, BugSet};
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::codec::{Framed, LinesCodec, LinesCodecError};

/// The port the slot server listens on.
pub const PORT: u16 = 7000;
/// The longest line either side accepts.
pub const MAX_LINE: usize = 256;

/// The known bugs of the slots component, declared outside core.
pub struct SlotBugs;

known_bugs! {
    impl SlotBugs {
        /// The capacity check and the insert are split by the licence
        /// await: requests in flight together all pass the check.
        CheckThenAwait {
            id: "slots-check-then-await",
            system: "slots",
            mechanism: "acquire checks held < capacity, awaits the licence server, then inserts; every request that arrives during the await passes the same check, so more than capacity slots are granted",
            fix: "the slot is reserved under the table's lock before the licence await, and given back on a licence no or when the connection ends",
        },
    }
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct SlotConfig {
    /// Slots the farm has.
    pub capacity: usize,
    /// The licence server, as `host:port`.
    pub licence: String,
    /// How long an `acquire` waits for the licence server.
    pub licence_timeout: Duration,
    /// Known bugs switched on (none in a normal build).
    pub bugs: BugSet,
}

/// What the licence server said about one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Licence {
    /// `yes`: the client may transcode.
    Yes,
    /// `no`: it may not.
    No,
    /// No answer in time, or no connection.
    Unavailable,
}

impl fmt::Display for Licence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Licence::Yes => "yes",
            Licence::No => "no",
            Licence::Unavailable => "unavailable",
        })
    }
}

/// Why a slot was freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freed {
    /// The client sent `release`.
    Release,
    /// The connection ended (hang-up, crash, protocol error).
    Disconnect,
}

impl fmt::Display for Freed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Freed::Release => "release",
            Freed::Disconnect => "disconnect",
        })
    }
}

/// The component's observable steps (`slots.*`). `held` is the number of
/// slots granted or reserved right after the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotEvent {
    /// An `acquire` arrived: it is in flight until answered.
    Request {
        /// The client it names.
        client: String,
        /// The server's connection number, from 1.
        conn: u64,
        /// Slots held when it arrived.
        held: usize,
    },
    /// Answered `granted`.
    Granted {
        /// The client.
        client: String,
        /// The connection.
        conn: u64,
        /// Slots held now.
        held: usize,
    },
    /// Answered `full`.
    Full {
        /// The client.
        client: String,
        /// The connection.
        conn: u64,
        /// Slots held now.
        held: usize,
    },
    /// Answered `denied`.
    Denied {
        /// The client.
        client: String,
        /// The connection.
        conn: u64,
        /// What the licence server said.
        licence: Licence,
        /// Slots held now.
        held: usize,
    },
    /// A slot (or a reservation) was freed.
    Released {
        /// The client that held it.
        client: String,
        /// The connection.
        conn: u64,
        /// Why.
        why: Freed,
        /// Slots held now.
        held: usize,
    },
}

impl fmt::Display for SlotEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotEvent::Request { client, conn, held } => {
                write!(f, "slots.request client={client} conn={conn} held={held}")
            }
            SlotEvent::Granted { client, conn, held } => {
                write!(f, "slots.granted client={client} conn={conn} held={held}")
            }
            SlotEvent::Full { client, conn, held } => {
                write!(f, "slots.full client={client} conn={conn} held={held}")
            }
            SlotEvent::Denied {
                client,
                conn,
                licence,
                held,
            } => write!(
                f,
                "slots.denied client={client} conn={conn} licence={licence} held={held}"
            ),
            SlotEvent::Released {
                client,
                conn,
                why,
                held,
            } => write!(
                f,
                "slots.released client={client} conn={conn} why={why} held={held}"
            ),
        }
    }
}

/// Where the server reports its [`SlotEvent`]s (core's `EventSink`, for a
/// component outside core).
pub trait SlotSink: Send + Sync + 'static {
    /// Records one event of the server running as `host`.
    fn record(&self, host: &'static str, event: SlotEvent);
}

/// The answer to one `acquire`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Granted,
    Full,
    Denied(Licence),
}

/// One line from a client.
enum Request {
    Acquire(String),
    Release,
}

impl Request {
    fn parse(line: &str) -> Option<Request> {
        match line.split_once(' ') {
            Some(("acquire", client)) if !client.is_empty() && !client.contains(' ') => {
                Some(Request::Acquire(client.to_string()))
            }
            None if line == "release" => Some(Request::Release),
            _ => None,
        }
    }
}

/// The slot server: its table and its configuration.
pub struct SlotServer {
    cfg: SlotConfig,
    host: &'static str,
    sink: Arc<dyn SlotSink>,
    /// conn → client: every slot granted or reserved and not yet freed.
    table: Mutex<BTreeMap<u64, String>>,
    next_conn: AtomicU64,
}

impl fmt::Debug for SlotServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotServer")
            .field("host", &self.host)
            .field("capacity", &self.cfg.capacity)
            .field("held", &self.held())
            .finish()
    }
}

impl SlotServer {
    /// A server recording its events as `host` into `sink`.
    pub fn new(cfg: SlotConfig, host: &'static str, sink: Arc<dyn SlotSink>) -> Arc<SlotServer> {
        Arc::new(SlotServer {
            cfg,
            host,
            sink,
            table: Mutex::new(BTreeMap::new()),
            next_conn: AtomicU64::new(0),
        })
    }

    /// Slots granted or reserved now (the server's own bookkeeping).
    pub fn held(&self) -> usize {
        self.table().len()
    }

    /// Slots the farm has.
    pub fn capacity(&self) -> usize {
        self.cfg.capacity
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.next_conn.load(Ordering::Acquire)
    }

    fn table(&self) -> MutexGuard<'_, BTreeMap<u64, String>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, event: SlotEvent) {
        self.sink.record(self.host, event);
    }

    /// One `acquire`: the component's core logic, and its one race.
    async fn acquire<N: Net>(&self, net: &N, conn: u64, client: &str) -> Answer {
        if self.cfg.bugs.on(SlotBugs::CheckThenAwait) {
            // Pre-fix: check, await, insert. A request arriving during the
            // await passes the same check.
            if self.table().len() >= self.cfg.capacity {
                return Answer::Full;
            }
            let licence = self.licence(net, client).await;
            if licence != Licence::Yes {
                return Answer::Denied(licence);
            }
            self.table().insert(conn, client.to_string());
            return Answer::Granted;
        }
        // The fix: reserve before the await; give the reservation back on a
        // no (the connection's end frees it on a hang-up).
        {
            let mut table = self.table();
            if table.len() >= self.cfg.capacity {
                return Answer::Full;
            }
            table.insert(conn, client.to_string());
        }
        let licence = self.licence(net, client).await;
        if licence != Licence::Yes {
            self.table().remove(&conn);
            return Answer::Denied(licence);
        }
        Answer::Granted
    }

    /// Asks the licence server about `client` (a connection per query).
    async fn licence<N: Net>(&self, net: &N, client: &str) -> Licence {
        let ask = async {
            let stream = net.connect(&self.cfg.licence).await?;
            let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
            lines.send(format!("may {client}")).await?;
            let answer = lines.next().await.transpose()?;
            Ok::<_, LinesCodecError>(match answer.as_deref() {
                Some("yes") => Licence::Yes,
                Some("no") => Licence::No,
                _ => Licence::Unavailable,
            })
        };
        match tokio::time::timeout(self.cfg.licence_timeout, ask).await {
            Ok(Ok(licence)) => licence,
            Ok(Err(_)) | Err(_) => Licence::Unavailable,
        }
    }

    /// Frees `conn`'s slot or reservation, if it has one.
    fn free(&self, conn: u64, why: Freed) {
        let freed = {
            let mut table = self.table();
            table.remove(&conn).map(|client| (client, table.len()))
        };
        if let Some((client, held)) = freed {
            self.emit(SlotEvent::Released {
                client,
                conn,
                why,
                held,
            });
        }
    }

    /// One client connection, until it ends.
    async fn connection<N: Net>(self: Arc<Self>, net: N, conn: u64, stream: N::Stream) {
        let _guard = ConnGuard {
            server: &self,
            conn,
        };
        let mut lines = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE));
        while let Some(Ok(line)) = lines.next().await {
            let holds = self.table().contains_key(&conn);
            let reply = match Request::parse(&line) {
                Some(Request::Acquire(client)) if !holds => {
                    self.emit(SlotEvent::Request {
                        client: client.clone(),
                        conn,
                        held: self.held(),
                    });
                    let answer = self.acquire(&net, conn, &client).await;
                    let held = self.held();
                    let (event, reply) = match answer {
                        Answer::Granted => (SlotEvent::Granted { client, conn, held }, "granted"),
                        Answer::Full => (SlotEvent::Full { client, conn, held }, "full"),
                        Answer::Denied(licence) => (
                            SlotEvent::Denied {
                                client,
                                conn,
                                licence,
                                held,
                            },
                            "denied",
                        ),
                    };
                    self.emit(event);
                    reply
                }
                Some(Request::Release) => {
                    self.free(conn, Freed::Release);
                    "released"
                }
                // A second acquire while holding, or a garbled line.
                Some(Request::Acquire(_)) | None => break,
            };
            if lines.send(reply).await.is_err() {
                break;
            }
        }
        self.free(conn, Freed::Disconnect);
    }
}

/// Frees a connection's slot if its task is dropped mid-request (the server
/// stopped). It records nothing: a runtime being torn down has no time to
/// stamp an event with, and every normal end has freed and recorded first.
struct ConnGuard<'a> {
    server: &'a SlotServer,
    conn: u64,
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.server.table().remove(&self.conn);
    }
}

/// Serves on `0.0.0.0:PORT` of `net` until the listener fails.
pub async fn serve<N: Net>(net: N, server: Arc<SlotServer>) -> io::Result<()> {
    let listener = net.bind(&format!("0.0.0.0:{PORT}")).await?;
    serve_on(net, listener, server).await
}

/// Serves on any listener of `net` (a loopback port in tests). The
/// connection tasks belong to this future: dropping it aborts them.
pub async fn serve_on<N: Net>(
    net: N,
    mut listener: N::Listener,
    server: Arc<SlotServer>,
) -> io::Result<()> {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let conn = server.next_conn.fetch_add(1, Ordering::AcqRel) + 1;
                tasks.spawn(server.clone().connection(net.clone(), conn, stream));
            }
            Some(_) = tasks.join_next() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_strictly() {
        assert!(
            matches!(Request::parse("acquire client-a"), Some(Request::Acquire(c)) if c == "client-a")
        );
        assert!(matches!(Request::parse("release"), Some(Request::Release)));
        for bad in [
            "acquire",
            "acquire ",
            "acquire a b",
            "release now",
            "grab a",
            "",
        ] {
            assert!(Request::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn event_text() {
        let e = SlotEvent::Denied {
            client: "client-a".into(),
            conn: 3,
            licence: Licence::Unavailable,
            held: 1,
        };
        assert_eq!(
            e.to_string(),
            "slots.denied client=client-a conn=3 licence=unavailable held=1"
        );
        assert_eq!(SlotBugs::ALL, &[SlotBugs::CheckThenAwait]);
        assert_eq!(SlotBugs::CheckThenAwait.id(), "slots-check-then-await");
        assert_eq!(SlotBugs::CheckThenAwait.system(), "slots");
    }
}
