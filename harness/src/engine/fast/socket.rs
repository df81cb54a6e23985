//! The fast engine's sockets: [`FastStream`] and [`FastListener`], and the
//! connect and bind futures behind `SimNet` on this engine.
//!
//! Owns what a host's code sees of the fabric: reads drain delivered
//! segments and give their window back, writes spend window and put a
//! segment on the wire, shutdown and drop send FIN, a reset fails both
//! ways. It must never be used outside a host task of a fast run.

use super::fabric::{self, Handshake, HostId, Packet};
use bytes::{Buf, Bytes};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

fn here() -> io::Result<HostId> {
    fabric::current_host()
        .ok_or_else(|| io::Error::other("fast engine: network used outside a host task"))
}

/// A connected stream on the fast engine.
#[derive(Debug)]
pub struct FastStream {
    rd: usize,
    wr: usize,
    local: SocketAddr,
    peer: SocketAddr,
}

impl FastStream {
    /// This end's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The other end's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
}

impl AsyncRead for FastStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let rd = self.rd;
        fabric::with(|f| {
            let p = &mut f.pipes[rd];
            if p.inbox.is_empty() {
                if p.eof {
                    return Poll::Ready(Ok(()));
                }
                if p.read_reset {
                    return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
                }
                p.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let mut freed = 0;
            while out.remaining() > 0 {
                let Some(seg) = p.inbox.front_mut() else {
                    break;
                };
                let n = seg.len().min(out.remaining());
                out.put_slice(&seg[..n]);
                seg.advance(n);
                if seg.is_empty() {
                    p.inbox.pop_front();
                    freed += 1;
                }
            }
            if freed > 0 {
                p.window += freed;
                p.wake_writer();
            }
            Poll::Ready(Ok(()))
        })
    }
}

impl AsyncWrite for FastStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let wr = self.wr;
        fabric::with(|f| {
            let p = &mut f.pipes[wr];
            if p.reset || p.closed {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if p.window == 0 {
                p.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            p.window -= 1;
            let (from, to) = (p.from, p.to);
            f.send(
                from,
                to,
                Some(wr),
                Packet::Data(wr, Bytes::copy_from_slice(buf)),
            );
            Poll::Ready(Ok(buf.len()))
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let wr = self.wr;
        fabric::with(|f| {
            let p = &mut f.pipes[wr];
            if !p.closed && !p.reset {
                p.closed = true;
                let (from, to) = (p.from, p.to);
                f.send(from, to, Some(wr), Packet::Fin(wr));
            }
        });
        Poll::Ready(Ok(()))
    }
}

impl Drop for FastStream {
    fn drop(&mut self) {
        let (rd, wr) = (self.rd, self.wr);
        fabric::try_with(|f| {
            let r = &mut f.pipes[rd];
            r.orphaned = true;
            r.reader = None;
            // Closing with unread data resets the connection (RFC 9293
            // §3.10.4, as turmoil does): a RST instead of a FIN.
            let unread = !r.inbox.is_empty() && !r.read_reset;
            r.inbox.clear();
            let (peer, me) = (r.from, r.to);
            let w = &mut f.pipes[wr];
            w.writer = None;
            if unread {
                w.closed = true;
                f.send(me, peer, None, Packet::Rst(rd));
            } else if !w.closed && !w.reset {
                w.closed = true;
                let (from, to) = (w.from, w.to);
                f.send(from, to, Some(wr), Packet::Fin(wr));
            }
            f.forget(wr);
        });
    }
}

/// A bound listener on the fast engine.
#[derive(Debug)]
pub struct FastListener {
    host: HostId,
    port: u16,
    id: usize,
}

impl FastListener {
    /// The next connection from the backlog.
    pub fn accept(&mut self) -> impl Future<Output = io::Result<(FastStream, SocketAddr)>> + Send {
        let id = self.id;
        std::future::poll_fn(move |cx| {
            fabric::with(|f| match f.listens[id].backlog.pop_front() {
                Some(c) => {
                    let (up, down, client, server) = {
                        let k = &f.conns[c];
                        (k.up, k.down, k.client, k.server)
                    };
                    f.count(down);
                    Poll::Ready(Ok((
                        FastStream {
                            rd: up,
                            wr: down,
                            local: server,
                            peer: client,
                        },
                        client,
                    )))
                }
                None => {
                    f.listens[id].waiter = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        fabric::with(|f| SocketAddr::new(f.hosts[self.host].ip, self.port))
    }
}

impl Drop for FastListener {
    fn drop(&mut self) {
        let (h, port, id) = (self.host, self.port, self.id);
        fabric::try_with(|f| {
            f.listens[id].open = false;
            f.listens[id].waiter = None;
            if f.hosts[h].bound.get(&port) == Some(&id) {
                f.hosts[h].bound.remove(&port);
            }
        });
    }
}

/// Binds `port` on the current host.
pub(crate) fn bind(port: u16) -> io::Result<FastListener> {
    let host = here()?;
    fabric::with(|f| {
        if f.hosts[host].bound.contains_key(&port) {
            return Err(io::ErrorKind::AddrInUse.into());
        }
        let id = f.listens.len();
        f.listens.push(fabric::Listen {
            backlog: Default::default(),
            waiter: None,
            open: true,
        });
        f.hosts[host].bound.insert(port, id);
        Ok(FastListener { host, port, id })
    })
}

/// A connection attempt in flight; dropping it abandons the connection.
pub(crate) struct Connecting {
    conn: Option<usize>,
    done: bool,
}

/// Connects the current host to `host:port`.
pub(crate) fn connect(host: &str, port: u16) -> io::Result<Connecting> {
    let me = here()?;
    let conn = fabric::with(|f| -> io::Result<usize> {
        let server = f.resolve(host).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("fast engine: no host {host:?}"),
            )
        })?;
        f.open(me, server, port)
    })?;
    Ok(Connecting {
        conn: Some(conn),
        done: false,
    })
}

impl Future for Connecting {
    type Output = io::Result<FastStream>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(c) = self.conn else {
            return Poll::Ready(Err(io::Error::other(
                "fast engine: connect polled after completion",
            )));
        };
        let r = fabric::with(|f| {
            let k = &mut f.conns[c];
            match k.state {
                Handshake::Open => {
                    let s = FastStream {
                        rd: k.down,
                        wr: k.up,
                        local: k.client,
                        peer: k.server,
                    };
                    let up = k.up;
                    f.count(up);
                    Poll::Ready(Ok(s))
                }
                Handshake::Refused => Poll::Ready(Err(io::ErrorKind::ConnectionRefused.into())),
                Handshake::Pending => {
                    k.waiter = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        });
        if r.is_ready() {
            self.done = true;
            self.conn = None;
        }
        r
    }
}

impl Drop for Connecting {
    fn drop(&mut self) {
        if let (Some(c), false) = (self.conn, self.done) {
            // Abandoned: whatever the server sends is answered with a reset,
            // and the client never writes.
            fabric::try_with(|f| {
                let (up, down) = (f.conns[c].up, f.conns[c].down);
                f.conns[c].waiter = None;
                f.pipes[down].orphaned = true;
                let w = &mut f.pipes[up];
                if !w.closed {
                    w.closed = true;
                    let (from, to) = (w.from, w.to);
                    f.send(from, to, Some(up), Packet::Fin(up));
                }
            });
        }
    }
}
