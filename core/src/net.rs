//! The network seam.
//!
//! Owns the [`Net`] and [`NetListener`] traits and the real implementation,
//! [`TokioNet`]. Core code connects and listens only through a `Net`; it never
//! names `tokio::net` or `turmoil` itself. The simulated implementation
//! (`SimNet`, over turmoil) lives in the harness. Addresses are `host:port`
//! strings; hosts are resolved by the implementation (turmoil's DNS in
//! simulation, the OS resolver on tokio).
//!
//! Also owns [`AcceptBackoff`], the one rule every accept loop of the core
//! follows when `accept()` fails (EMFILE, a connection reset before it was
//! accepted, …): trace it, pause, and go on. A server never stops listening
//! because one accept failed, and never spins on a failing one.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream the core can read and write.
pub trait NetStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> NetStream for T {}

/// A network the core can connect through and listen on.
pub trait Net: Clone + Send + Sync + 'static {
    type Stream: NetStream;
    type Listener: NetListener<Stream = Self::Stream>;

    /// Connects to `host:port`.
    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Listens on `host:port` (`0.0.0.0:port` for every interface).
    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<Self::Listener>> + Send;
}

/// An accepted-connection source.
pub trait NetListener: Send + 'static {
    type Stream: NetStream;

    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// The pause after a failed `accept()`: [`AcceptBackoff::FIRST`] after the
/// first failure, doubling with each further failure in a row up to a cap,
/// back to the first after an accept succeeds.
#[derive(Debug, Clone)]
pub struct AcceptBackoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl AcceptBackoff {
    /// The pause after one failure.
    pub const FIRST: Duration = Duration::from_millis(10);
    /// The longest pause.
    pub const MAX: Duration = Duration::from_secs(1);

    /// Pauses of `first`, doubling up to `max` (at least `first`).
    pub fn new(first: Duration, max: Duration) -> AcceptBackoff {
        AcceptBackoff {
            first,
            max: max.max(first),
            next: first,
        }
    }

    /// An accept succeeded: the next failure pauses `first` again.
    pub fn accepted(&mut self) {
        self.next = self.first;
    }

    /// An accept failed: how long to pause before the next one.
    pub fn failed(&mut self) -> Duration {
        let pause = self.next;
        self.next = pause.saturating_mul(2).min(self.max);
        pause
    }
}

impl Default for AcceptBackoff {
    fn default() -> AcceptBackoff {
        AcceptBackoff::new(AcceptBackoff::FIRST, AcceptBackoff::MAX)
    }
}

impl AcceptBackoff {
    /// The next connection `listener` accepts. A failed `accept()` is
    /// reported to `failed` (its kind as traces name it, `io-<ErrorKind>`,
    /// and the pause in ms) and waited out; never an error.
    pub async fn accept<L: NetListener>(
        &mut self,
        listener: &mut L,
        mut failed: impl FnMut(String, u64) + Send,
    ) -> L::Stream {
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    self.accepted();
                    return stream;
                }
                Err(e) => {
                    let pause = self.failed();
                    failed(format!("io-{:?}", e.kind()), pause.as_millis() as u64);
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// Splits `host:port`, with a clear error for anything else.
pub fn split_host_port(addr: &str) -> io::Result<(String, u16)> {
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("address {addr:?} is not host:port"),
        )
    })?;
    let port = port.parse::<u16>().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("address {addr:?} has a bad port"),
        )
    })?;
    Ok((host.to_string(), port))
}

/// The real network: tokio sockets.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioNet;

impl Net for TokioNet {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        let addr = addr.to_string();
        async move {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Ok(s)
        }
    }

    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<Self::Listener>> + Send {
        let addr = addr.to_string();
        async move { tokio::net::TcpListener::bind(addr).await }
    }
}

impl NetListener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        tokio::net::TcpListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn accept_backoff_doubles_to_its_cap_and_resets_on_success() {
        use super::AcceptBackoff;
        use std::time::Duration;
        let ms = Duration::from_millis;
        let mut b = AcceptBackoff::new(ms(10), ms(35));
        assert_eq!(
            [b.failed(), b.failed(), b.failed(), b.failed()],
            [ms(10), ms(20), ms(35), ms(35)]
        );
        b.accepted();
        assert_eq!(b.failed(), ms(10));
        let mut lone = AcceptBackoff::new(ms(50), ms(5));
        assert_eq!(
            [lone.failed(), lone.failed()],
            [ms(50), ms(50)],
            "the cap is at least the first pause"
        );
    }

    use super::*;

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("twitch-api:443").unwrap(),
            ("twitch-api".into(), 443)
        );
        assert!(split_host_port("nope").is_err());
        assert!(split_host_port("a:x").is_err());
    }
}
