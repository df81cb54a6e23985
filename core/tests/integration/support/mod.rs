//! Shared by the hostile-input tests: an in-memory network (tokio duplex
//! pipes behind the core's [`Net`] / [`NetListener`] seam, so tests run on
//! paused time with no sockets) and an event recorder.
//!
//! Each suite uses its own part of it.
#![allow(dead_code)]

use relaysim_core::event::{Event, EventSink};
use relaysim_core::net::{Net, NetListener};
use relaysim_core::session::ws::WsEvent;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio::sync::mpsc;

/// The address every in-memory stream claims.
pub const ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9);

/// A listener fed by a [`Dialer`]: each `connect` (or `fail`) is one
/// `accept()` result, in order. With every dialer gone, `accept` waits
/// forever (as a quiet real listener would).
pub struct MemListener {
    rx: mpsc::UnboundedReceiver<io::Result<DuplexStream>>,
}

/// The client side of a [`MemListener`].
#[derive(Clone)]
pub struct Dialer {
    tx: mpsc::UnboundedSender<io::Result<DuplexStream>>,
    /// Bytes each direction of a pipe buffers.
    pub pipe: usize,
}

/// A listener and its dialer; pipes buffer `pipe` bytes each way.
pub fn mem_listener(pipe: usize) -> (MemListener, Dialer) {
    let (tx, rx) = mpsc::unbounded_channel();
    (MemListener { rx }, Dialer { tx, pipe })
}

impl Dialer {
    /// A new connection: the listener accepts the other end.
    pub fn connect(&self) -> DuplexStream {
        let (client, server) = tokio::io::duplex(self.pipe);
        self.tx.send(Ok(server)).expect("the listener is gone");
        client
    }

    /// The listener's next `accept()` fails with `e`.
    pub fn fail(&self, e: io::Error) {
        self.tx.send(Err(e)).expect("the listener is gone");
    }
}

impl NetListener for MemListener {
    type Stream = DuplexStream;

    async fn accept(&mut self) -> io::Result<(DuplexStream, SocketAddr)> {
        match self.rx.recv().await {
            Some(r) => r.map(|s| (s, ADDR)),
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(ADDR)
    }
}

/// A server: gets the server end of each connection.
pub type Serve = Arc<dyn Fn(DuplexStream) + Send + Sync>;

/// A network whose every `connect` reaches `serve` over a fresh pipe
/// (whatever the address). `bind` is unsupported.
#[derive(Clone)]
pub struct MemNet {
    pub serve: Serve,
    pub pipe: usize,
}

impl MemNet {
    /// Each connection is served by `handler`, spawned on the current runtime.
    pub fn spawning<F, Fut>(pipe: usize, handler: F) -> MemNet
    where
        F: Fn(DuplexStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        MemNet {
            serve: Arc::new(move |s| {
                tokio::spawn(handler(s));
            }),
            pipe,
        }
    }
}

impl Net for MemNet {
    type Stream = DuplexStream;
    type Listener = MemListener;

    fn connect(&self, _addr: &str) -> impl Future<Output = io::Result<DuplexStream>> + Send {
        let (client, server) = tokio::io::duplex(self.pipe);
        (self.serve)(server);
        async move { Ok(client) }
    }

    async fn bind(&self, _addr: &str) -> io::Result<MemListener> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Every event emitted, in order.
#[derive(Default)]
pub struct Events(Mutex<Vec<Event>>);

impl EventSink for Events {
    fn record(&self, _host: &'static str, event: Event) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }
}

impl Events {
    pub fn new() -> Arc<Events> {
        Arc::new(Events::default())
    }

    /// The ws events so far.
    pub fn ws(&self) -> Vec<WsEvent> {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .filter_map(|e| match e {
                Event::Ws(w) => Some(w.clone()),
                _ => None,
            })
            .collect()
    }

    /// The normalized lines so far.
    pub fn lines(&self) -> Vec<String> {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().map(ToString::to_string).collect()
    }

    /// The normalized lines so far that start with one of `prefixes`.
    pub fn lines_of(&self, prefixes: &[&str]) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
            .collect()
    }
}

/// Reads one HTTP request from `s`: headers, then `Content-Length` bytes of
/// body. False when the stream ended before the request was whole.
pub async fn read_request(s: &mut DuplexStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.unwrap_or(0) == 0 {
            return false;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.is_ok()
}

/// The tasks alive on the current runtime: tokio's own count
/// (`RuntimeMetrics::num_alive_tasks`), which no component can bend. The
/// `*_tasks` suites judge each component's resource clause with it ("no
/// task outlives its owner") from outside its bookkeeping.
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits `quiet` (paused time: every deadline the component holds has
/// passed by then), then requires the `before` tasks alive, and no more:
/// a task left behind by `what` fails with the count and the trace.
pub async fn no_task_left(what: &str, before: usize, quiet: std::time::Duration, events: &Events) {
    tokio::time::sleep(quiet).await;
    let left = alive_tasks();
    assert_eq!(
        left,
        before,
        "{what}: {} task(s) outlived their owner ({left} alive, {before} before it); trace: {:#?}",
        left.abs_diff(before),
        events.lines()
    );
}
