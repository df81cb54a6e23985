//! `SimNet`: core's [`Net`] seam over turmoil's simulated TCP.
//!
//! Owns the only place harness code turns a `host:port` string into a
//! turmoil connection. Only valid inside a turmoil host (turmoil panics
//! otherwise).

use relaysim_core::net::{split_host_port, Net, NetListener};
use std::future::Future;
use std::io;
use std::net::SocketAddr;

/// The simulated network.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimNet;

impl Net for SimNet {
    type Stream = turmoil::net::TcpStream;
    type Listener = SimListener;

    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        let target = split_host_port(addr);
        async move {
            let (host, port) = target?;
            turmoil::net::TcpStream::connect((host, port)).await
        }
    }

    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<Self::Listener>> + Send {
        let target = addr.parse::<SocketAddr>().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bind address {addr:?} must be ip:port"),
            )
        });
        async move {
            let inner = turmoil::net::TcpListener::bind(target?).await?;
            Ok(SimListener { inner })
        }
    }
}

/// A turmoil listener behind core's [`NetListener`].
pub struct SimListener {
    inner: turmoil::net::TcpListener,
}

impl NetListener for SimListener {
    type Stream = turmoil::net::TcpStream;

    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        self.inner.accept()
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}
