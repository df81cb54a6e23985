//! `SimNet`: core's [`Net`] seam over whichever engine runs this thread.
//!
//! Owns the only place harness and family code turn a `host:port` string
//! into a simulated connection: turmoil's TCP under the turmoil engine, the
//! fabric's sockets under the fast engine. Only valid inside a host of a
//! run (turmoil panics otherwise; the fast engine answers an error).

use super::fast::{self, FastListener, FastStream};
use relaysim_core::net::{split_host_port, Net, NetListener};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The simulated network of the engine running this thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimNet;

/// A simulated TCP stream.
#[derive(Debug)]
pub enum SimStream {
    /// turmoil's stream.
    Turmoil(turmoil::net::TcpStream),
    /// The fast engine's stream.
    Fast(FastStream),
}

impl SimStream {
    /// The other end's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            SimStream::Turmoil(s) => s.peer_addr(),
            SimStream::Fast(s) => Ok(s.peer_addr()),
        }
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            SimStream::Turmoil(s) => s.local_addr(),
            SimStream::Fast(s) => Ok(s.local_addr()),
        }
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SimStream::Turmoil(s) => Pin::new(s).poll_read(cx, buf),
            SimStream::Fast(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            SimStream::Turmoil(s) => Pin::new(s).poll_write(cx, buf),
            SimStream::Fast(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SimStream::Turmoil(s) => Pin::new(s).poll_flush(cx),
            SimStream::Fast(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SimStream::Turmoil(s) => Pin::new(s).poll_shutdown(cx),
            SimStream::Fast(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl Net for SimNet {
    type Stream = SimStream;
    type Listener = SimListener;

    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        let target = split_host_port(addr);
        let fast = fast::active();
        async move {
            let (host, port) = target?;
            if fast {
                Ok(SimStream::Fast(fast::connect(&host, port)?.await?))
            } else {
                Ok(SimStream::Turmoil(
                    turmoil::net::TcpStream::connect((host, port)).await?,
                ))
            }
        }
    }

    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<Self::Listener>> + Send {
        let target = addr.parse::<SocketAddr>().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bind address {addr:?} must be ip:port"),
            )
        });
        let fast = fast::active();
        async move {
            let target = target?;
            if fast {
                Ok(SimListener::Fast(fast::bind(target.port())?))
            } else {
                let inner = turmoil::net::TcpListener::bind(target).await?;
                Ok(SimListener::Turmoil(inner))
            }
        }
    }
}

/// A simulated listener behind core's [`NetListener`].
pub enum SimListener {
    /// turmoil's listener.
    Turmoil(turmoil::net::TcpListener),
    /// The fast engine's listener.
    Fast(FastListener),
}

impl SimListener {
    /// The next connection.
    pub async fn accept(&mut self) -> io::Result<(SimStream, SocketAddr)> {
        match self {
            SimListener::Turmoil(l) => {
                let (s, a) = l.accept().await?;
                Ok((SimStream::Turmoil(s), a))
            }
            SimListener::Fast(l) => {
                let (s, a) = l.accept().await?;
                Ok((SimStream::Fast(s), a))
            }
        }
    }
}

impl NetListener for SimListener {
    type Stream = SimStream;

    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        SimListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            SimListener::Turmoil(l) => l.local_addr(),
            SimListener::Fast(l) => Ok(l.local_addr()),
        }
    }
}
