//! The fast engine's network fabric: hosts, links, connections, the
//! delivery queue, and the thread-local that holds them for the run.
//!
//! Owns every piece of simulated network state of one fast run and the one
//! rule that moves it: a packet is put on the queue at `now + latency` with
//! a sequence number, and packets are delivered in (time, sequence) order.
//! It must never read a wall clock or iterate a randomly ordered map.

use crate::scenario::NetParams;
use bytes::Bytes;
use relaysim_core::entropy::SimRng;
use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::task::Waker;
use std::time::Duration;
use tokio::time::Instant;

/// A host's index in the fabric.
pub(crate) type HostId = usize;

/// First ephemeral port handed to an outgoing connection.
const EPHEMERAL: u16 = 49152;

pub(crate) struct HostState {
    pub ip: IpAddr,
    /// Bound ports → listener index.
    pub bound: BTreeMap<u16, usize>,
    pub next_port: u16,
    /// Streams of this host that are established and not reset or dropped.
    pub established: usize,
    /// Abort handles of the tasks its software started (the root task and
    /// every task spawned through `relaysim_core::rt::spawn`), for a crash.
    pub tasks: Vec<tokio::task::AbortHandle>,
    /// Crashed and not yet bounced: the machine answers no SYN.
    pub down: bool,
    /// Connects that reached it while down, refused at the bounce.
    pub unanswered: Vec<usize>,
}

/// One direction of a connection: bytes written on `from`, read on `to`.
pub(crate) struct Pipe {
    pub from: HostId,
    pub to: HostId,
    /// Segments the writer may still send before the reader drains some
    /// (turmoil's `tcp_capacity`: the window counts segments).
    pub window: usize,
    /// Delivered, unread segments.
    pub inbox: VecDeque<Bytes>,
    /// Latest delivery time scheduled on this pipe (no overtaking).
    pub last_due: Option<Instant>,
    pub reader: Option<Waker>,
    pub writer: Option<Waker>,
    /// A FIN arrived (after everything before it).
    pub eof: bool,
    /// The writer sent its FIN (shutdown or drop).
    pub closed: bool,
    /// A segment of this pipe was lost to a partition: nothing after it is
    /// ever read (a gap in the stream), as in turmoil.
    pub gap: bool,
    /// The reading end is gone: the next segment is answered with a reset.
    pub orphaned: bool,
    /// The connection was reset (a RST arrived for this pipe's writer):
    /// writes fail.
    pub reset: bool,
    /// The reading socket was reset: reads fail once the inbox is empty.
    pub read_reset: bool,
    /// The writer's socket counts as established on its host.
    pub live: bool,
}

impl Pipe {
    fn new(from: HostId, to: HostId, window: usize) -> Pipe {
        Pipe {
            from,
            to,
            window,
            inbox: VecDeque::new(),
            last_due: None,
            reader: None,
            writer: None,
            eof: false,
            closed: false,
            gap: false,
            orphaned: false,
            reset: false,
            read_reset: false,
            live: false,
        }
    }

    pub fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    pub fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    Pending,
    Open,
    Refused,
}

pub(crate) struct Conn {
    /// Client → server.
    pub up: usize,
    /// Server → client.
    pub down: usize,
    pub state: Handshake,
    pub waiter: Option<Waker>,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub port: u16,
}

pub(crate) struct Listen {
    pub backlog: VecDeque<usize>,
    pub waiter: Option<Waker>,
    pub open: bool,
}

/// What travels on a link.
pub(crate) enum Packet {
    Syn(usize),
    SynAck(usize),
    Refused(usize),
    Data(usize, Bytes),
    Fin(usize),
    /// Tells the writer of this pipe that the reading end is gone.
    Rst(usize),
}

struct Due {
    at: Instant,
    seq: u64,
    link: (HostId, HostId),
    packet: Packet,
}

impl PartialEq for Due {
    fn eq(&self, o: &Due) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Due) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    // Reversed: the heap pops the earliest (time, sequence) first.
    fn cmp(&self, o: &Due) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Default)]
struct Link {
    latency: Option<Duration>,
    cut: bool,
    held: bool,
    parked: Vec<(u64, Packet)>,
}

/// The whole simulated network of one run.
pub(crate) struct Fabric {
    rng: SimRng,
    params: NetParams,
    pub start: Instant,
    pub hosts: Vec<HostState>,
    names: BTreeMap<String, HostId>,
    pub pipes: Vec<Pipe>,
    pub conns: Vec<Conn>,
    pub listens: Vec<Listen>,
    links: BTreeMap<(HostId, HostId), Link>,
    queue: BinaryHeap<Due>,
    seq: u64,
    /// The driver task's waker and the deadline it sleeps to.
    pub driver: Option<Waker>,
    pub armed: Option<Instant>,
    /// The first error a host's software returned.
    pub host_error: Option<String>,
    /// Packets delivered (a measure of work).
    pub delivered: u64,
    /// The run is being torn down: sockets dropped now send nothing (and
    /// read no clock).
    pub closing: bool,
}

thread_local! {
    static FABRIC: RefCell<Option<Fabric>> = const { RefCell::new(None) };
    /// The host whose task is being polled (set by the runtime's poll hooks).
    static CURRENT: Cell<Option<HostId>> = const { Cell::new(None) };
}

/// Is a fast run live on this thread?
pub(crate) fn active() -> bool {
    FABRIC.with_borrow(|f| f.is_some())
}

/// Runs `f` on this thread's fabric. Panics outside a fast run.
pub(crate) fn with<R>(f: impl FnOnce(&mut Fabric) -> R) -> R {
    FABRIC.with_borrow_mut(|w| f(w.as_mut().expect("fast engine: no run on this thread")))
}

/// Runs `f` on the fabric if there is one and it is free (drops during
/// teardown).
pub(crate) fn try_with(f: impl FnOnce(&mut Fabric)) {
    let _ = FABRIC.try_with(|w| {
        if let Ok(mut w) = w.try_borrow_mut() {
            if let Some(w) = w.as_mut() {
                f(w);
            }
        }
    });
}

pub(crate) fn install(fabric: Fabric) {
    FABRIC.with_borrow_mut(|w| *w = Some(fabric));
}

pub(crate) fn uninstall() {
    FABRIC.with_borrow_mut(|w| *w = None);
    CURRENT.with(|c| c.set(None));
}

pub(crate) fn current_host() -> Option<HostId> {
    CURRENT.with(Cell::get)
}

pub(crate) fn set_current_host(h: Option<HostId>) -> Option<HostId> {
    CURRENT.with(|c| c.replace(h))
}

fn ordered(a: HostId, b: HostId) -> (HostId, HostId) {
    (a.min(b), a.max(b))
}

impl Fabric {
    pub fn new(seed: u64, params: NetParams, start: Instant) -> Fabric {
        Fabric {
            rng: SimRng::fork(seed, "fast-engine-links"),
            params,
            start,
            hosts: Vec::new(),
            names: BTreeMap::new(),
            pipes: Vec::new(),
            conns: Vec::new(),
            listens: Vec::new(),
            links: BTreeMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            driver: None,
            armed: None,
            host_error: None,
            delivered: 0,
            closing: false,
        }
    }

    pub fn add_host(&mut self, name: &str) -> HostId {
        assert!(
            !self.names.contains_key(name),
            "fast engine: host {name:?} registered twice"
        );
        let id = self.hosts.len();
        let n = u32::try_from(id + 1).expect("host count");
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n));
        self.hosts.push(HostState {
            ip,
            bound: BTreeMap::new(),
            next_port: EPHEMERAL,
            established: 0,
            tasks: Vec::new(),
            down: false,
            unanswered: Vec::new(),
        });
        self.names.insert(name.to_string(), id);
        id
    }

    /// A crashed host's ports stop listening at once (the aborted tasks
    /// drop their listeners a moment later, at the same simulated time):
    /// a restarted host can bind them again straight away, and a connect
    /// meanwhile is refused.
    /// It is then down: a SYN that reaches it gets no answer (the connect
    /// hangs, as with turmoil) until [`Fabric::bring_up`].
    pub fn take_down(&mut self, h: HostId) {
        for (_, id) in std::mem::take(&mut self.hosts[h].bound) {
            self.listens[id].open = false;
            self.listens[id].waiter = None;
        }
        self.hosts[h].down = true;
    }

    /// A bounced host is up again: the connects that reached it while it
    /// was down are refused now (their SYN found no listener).
    pub fn bring_up(&mut self, h: HostId) {
        self.hosts[h].down = false;
        for c in std::mem::take(&mut self.hosts[h].unanswered) {
            let (server, client, down) = {
                let up = &self.pipes[self.conns[c].up];
                (up.to, up.from, self.conns[c].down)
            };
            self.send(server, client, Some(down), Packet::Refused(c));
        }
    }

    pub fn host_named(&self, name: &str) -> Option<HostId> {
        self.names.get(name).copied()
    }

    /// A host by name or by one of the fabric's addresses.
    pub fn resolve(&self, name: &str) -> Option<HostId> {
        self.host_named(name).or_else(|| {
            let ip: IpAddr = name.parse().ok()?;
            self.hosts.iter().position(|h| h.ip == ip)
        })
    }

    pub fn host_pair(&self, a: &str, b: &str) -> (HostId, HostId) {
        let get = |n: &str| {
            self.host_named(n)
                .unwrap_or_else(|| panic!("fast engine: no host {n:?}"))
        };
        (get(a), get(b))
    }

    /// Opens a connection from `client` to `server:port` and sends its SYN.
    /// Across a cut link the SYN is lost and the connect is refused at
    /// once, as in turmoil.
    pub fn open(&mut self, client: HostId, server: HostId, port: u16) -> std::io::Result<usize> {
        if self
            .links
            .get(&ordered(client, server))
            .is_some_and(|l| l.cut)
        {
            return Err(std::io::ErrorKind::ConnectionRefused.into());
        }
        let cport = self.hosts[client].next_port;
        self.hosts[client].next_port = cport.checked_add(1).unwrap_or(EPHEMERAL);
        let window = self.params.tcp_capacity.max(1);
        let up = self.pipes.len();
        self.pipes.push(Pipe::new(client, server, window));
        self.pipes.push(Pipe::new(server, client, window));
        let c = self.conns.len();
        self.conns.push(Conn {
            up,
            down: up + 1,
            state: Handshake::Pending,
            waiter: None,
            client: SocketAddr::new(self.hosts[client].ip, cport),
            server: SocketAddr::new(self.hosts[server].ip, port),
            port,
        });
        self.send(client, server, None, Packet::Syn(c));
        Ok(c)
    }

    fn latency(&mut self, link: (HostId, HostId)) -> Duration {
        let (lo, hi) = (self.params.min_latency, self.params.max_latency);
        let rng = &mut self.rng;
        *self
            .links
            .entry(link)
            .or_default()
            .latency
            .get_or_insert_with(|| {
                let (lo, hi) = (
                    lo.as_micros() as u64,
                    hi.as_micros().max(lo.as_micros()) as u64,
                );
                Duration::from_micros(rng.range(lo, hi))
            })
    }

    /// Puts a packet on the wire from `from` to `to`. `pipe` is the pipe it
    /// belongs to (ordering, loss).
    pub fn send(&mut self, from: HostId, to: HostId, pipe: Option<usize>, packet: Packet) {
        if self.closing {
            return;
        }
        let link = ordered(from, to);
        let lat = self.latency(link);
        let l = self.links.get_mut(&link).expect("link");
        if l.cut {
            if let Some(p) = pipe {
                if matches!(packet, Packet::Data(..) | Packet::Fin(_)) {
                    self.pipes[p].gap = true;
                }
            }
            return;
        }
        self.seq += 1;
        if l.held {
            l.parked.push((self.seq, packet));
            return;
        }
        let mut at = Instant::now() + lat;
        if let Some(p) = pipe {
            if let Some(last) = self.pipes[p].last_due {
                at = at.max(last);
            }
            self.pipes[p].last_due = Some(at);
        }
        let seq = self.seq;
        self.enqueue(Due {
            at,
            seq,
            link,
            packet,
        });
    }

    fn enqueue(&mut self, due: Due) {
        let at = due.at;
        self.queue.push(due);
        if self.armed.is_none_or(|a| at < a) {
            self.armed = Some(at);
            if let Some(w) = &self.driver {
                w.wake_by_ref();
            }
        }
    }

    /// The earliest packet due at or before `now`, removed from the queue.
    pub fn pop_due(&mut self, now: Instant) -> Option<Packet> {
        if self.queue.peek().is_some_and(|d| d.at <= now) {
            self.queue.pop().map(|d| d.packet)
        } else {
            None
        }
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.queue.peek().map(|d| d.at)
    }

    /// Cuts the link: packets on it are lost (a gap in each stream that
    /// had one in flight), and so is everything sent until repaired.
    pub fn partition(&mut self, a: HostId, b: HostId) {
        let link = ordered(a, b);
        let l = self.links.entry(link).or_default();
        l.cut = true;
        let parked = std::mem::take(&mut l.parked);
        let mut lost: Vec<Packet> = parked.into_iter().map(|(_, p)| p).collect();
        let (keep, gone): (Vec<Due>, Vec<Due>) = std::mem::take(&mut self.queue)
            .into_vec()
            .into_iter()
            .partition(|d| d.link != link);
        self.queue = keep.into_iter().collect();
        lost.extend(gone.into_iter().map(|d| d.packet));
        for p in lost {
            match p {
                Packet::Data(pipe, _) | Packet::Fin(pipe) => self.pipes[pipe].gap = true,
                // A lost handshake refuses the connect (turmoil drops the
                // SYN's answer channel with it).
                Packet::Syn(c) | Packet::SynAck(c) | Packet::Refused(c) => {
                    let conn = &mut self.conns[c];
                    if conn.state == Handshake::Pending {
                        conn.state = Handshake::Refused;
                        if let Some(w) = conn.waiter.take() {
                            w.wake();
                        }
                    }
                }
                Packet::Rst(_) => {}
            }
        }
    }

    pub fn repair(&mut self, a: HostId, b: HostId) {
        self.links.entry(ordered(a, b)).or_default().cut = false;
    }

    /// Holds the link: packets in flight and sent from now on wait on it.
    pub fn hold(&mut self, a: HostId, b: HostId) {
        let link = ordered(a, b);
        let (keep, held): (Vec<Due>, Vec<Due>) = std::mem::take(&mut self.queue)
            .into_vec()
            .into_iter()
            .partition(|d| d.link != link);
        self.queue = keep.into_iter().collect();
        let l = self.links.entry(link).or_default();
        l.held = true;
        l.parked.extend(held.into_iter().map(|d| (d.seq, d.packet)));
        l.parked.sort_by_key(|(s, _)| *s);
    }

    /// Ends a blackhole: the parked packets are lost as in a partition,
    /// and the link is neither held nor cut afterwards.
    pub fn restore(&mut self, a: HostId, b: HostId) {
        self.partition(a, b);
        let l = self.links.entry(ordered(a, b)).or_default();
        l.held = false;
        l.cut = false;
    }

    /// Releases a held link: what waited is delivered now, in send order.
    pub fn release(&mut self, a: HostId, b: HostId) {
        let link = ordered(a, b);
        let l = self.links.entry(link).or_default();
        l.held = false;
        let parked = std::mem::take(&mut l.parked);
        let now = Instant::now();
        for (seq, packet) in parked {
            let at = match packet_pipe(&packet, &self.conns) {
                Some(p) => {
                    let at = self.pipes[p].last_due.map_or(now, |l| l.max(now));
                    self.pipes[p].last_due = Some(at);
                    at
                }
                None => now,
            };
            self.enqueue(Due {
                at,
                seq,
                link,
                packet,
            });
        }
    }

    /// Delivers one packet to its destination.
    pub fn deliver(&mut self, packet: Packet) {
        self.delivered += 1;
        match packet {
            Packet::Syn(c) => {
                let (client, server) = {
                    let up = &self.pipes[self.conns[c].up];
                    (up.from, up.to)
                };
                if self.hosts[server].down {
                    self.hosts[server].unanswered.push(c);
                    return;
                }
                let port = self.conns[c].port;
                let listening = self.hosts[server]
                    .bound
                    .get(&port)
                    .copied()
                    .filter(|l| self.listens[*l].open);
                match listening {
                    Some(l) => {
                        self.listens[l].backlog.push_back(c);
                        if let Some(w) = self.listens[l].waiter.take() {
                            w.wake();
                        }
                        let down = self.conns[c].down;
                        self.send(server, client, Some(down), Packet::SynAck(c));
                    }
                    None => {
                        let down = self.conns[c].down;
                        self.send(server, client, Some(down), Packet::Refused(c));
                    }
                }
            }
            Packet::SynAck(c) | Packet::Refused(c) => {
                let open = matches!(packet, Packet::SynAck(_));
                let conn = &mut self.conns[c];
                if conn.state == Handshake::Pending {
                    conn.state = if open {
                        Handshake::Open
                    } else {
                        Handshake::Refused
                    };
                    if let Some(w) = conn.waiter.take() {
                        w.wake();
                    }
                }
            }
            Packet::Data(p, bytes) => {
                let pipe = &mut self.pipes[p];
                if pipe.gap {
                    return;
                }
                if pipe.orphaned {
                    let (from, to) = (pipe.to, pipe.from);
                    self.send(from, to, None, Packet::Rst(p));
                    return;
                }
                pipe.inbox.push_back(bytes);
                pipe.wake_reader();
            }
            Packet::Fin(p) => {
                let pipe = &mut self.pipes[p];
                if pipe.gap {
                    return;
                }
                pipe.eof = true;
                pipe.wake_reader();
            }
            Packet::Rst(p) => {
                // The whole socket on the writer's side is gone, as in
                // turmoil: writes fail, reads see the reset.
                let pipe = &mut self.pipes[p];
                if pipe.reset {
                    return;
                }
                pipe.reset = true;
                pipe.wake_writer();
                self.forget(p);
                let back = &mut self.pipes[p ^ 1];
                back.read_reset = true;
                back.wake_reader();
            }
        }
    }
}

impl Fabric {
    /// The socket writing `pipe` stops counting as established.
    pub fn forget(&mut self, pipe: usize) {
        let p = &mut self.pipes[pipe];
        if p.live {
            p.live = false;
            let h = p.from;
            self.hosts[h].established -= 1;
        }
    }

    /// The socket writing `pipe` is established on its host.
    pub fn count(&mut self, pipe: usize) {
        let p = &mut self.pipes[pipe];
        if !p.live && !p.reset {
            p.live = true;
            let h = p.from;
            self.hosts[h].established += 1;
        }
    }
}

fn packet_pipe(p: &Packet, conns: &[Conn]) -> Option<usize> {
    match p {
        Packet::Syn(c) => Some(conns[*c].up),
        Packet::SynAck(c) | Packet::Refused(c) => Some(conns[*c].down),
        Packet::Data(p, _) | Packet::Fin(p) => Some(*p),
        Packet::Rst(_) => None,
    }
}
