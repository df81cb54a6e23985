//! The network seam.
//!
//! Owns the [`Net`] and [`NetListener`] traits and the real implementation,
//! [`TokioNet`]. Core code connects and listens only through a `Net`; it never
//! names `tokio::net` or `turmoil` itself. The simulated implementation
//! (`SimNet`, over turmoil) lives in the harness. Addresses are `host:port`
//! strings; hosts are resolved by the implementation (turmoil's DNS in
//! simulation, the OS resolver on tokio).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
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
