//! `SegmentedNet`: any [`Net`] with a maximum segment size on writes.
//!
//! turmoil sends each `poll_write` as one message whatever its size, and its
//! flow control (`tcp_capacity`) counts messages. A WebSocket library that
//! writes a multi-MB frame in one call would therefore never meet a full
//! window. Capping each write at `mss` bytes makes the window a byte budget
//! (`tcp_capacity × mss`), as on real TCP, so a whole-message send blocks
//! while the peer is not reading. Owns only that cap; reads pass through.

use relaysim_core::net::{Net, NetListener, NetStream};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream whose writes are at most `mss` bytes each.
#[derive(Debug)]
pub struct Segmented<S> {
    inner: S,
    mss: usize,
}

impl<S> Segmented<S> {
    /// Wraps `inner`, cutting writes to at most `mss` bytes.
    pub fn new(inner: S, mss: usize) -> Segmented<S> {
        Segmented {
            inner,
            mss: mss.max(1),
        }
    }
}

impl<S: NetStream> AsyncRead for Segmented<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: NetStream> AsyncWrite for Segmented<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.mss);
        Pin::new(&mut self.inner).poll_write(cx, &buf[..n])
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `N` with every stream [`Segmented`].
#[derive(Debug, Clone, Copy)]
pub struct SegmentedNet<N> {
    inner: N,
    mss: usize,
}

impl<N: Net> SegmentedNet<N> {
    /// Wraps `inner`, cutting writes to at most `mss` bytes.
    pub fn new(inner: N, mss: usize) -> SegmentedNet<N> {
        SegmentedNet { inner, mss }
    }
}

impl<N: Net> Net for SegmentedNet<N> {
    type Stream = Segmented<N::Stream>;
    type Listener = SegmentedListener<N::Listener>;

    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        let fut = self.inner.connect(addr);
        let mss = self.mss;
        async move { Ok(Segmented::new(fut.await?, mss)) }
    }

    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<Self::Listener>> + Send {
        let fut = self.inner.bind(addr);
        let mss = self.mss;
        async move {
            Ok(SegmentedListener {
                inner: fut.await?,
                mss,
            })
        }
    }
}

/// A listener handing out [`Segmented`] streams.
pub struct SegmentedListener<L> {
    inner: L,
    mss: usize,
}

impl<L: NetListener> NetListener for SegmentedListener<L> {
    type Stream = Segmented<L::Stream>;

    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        let mss = self.mss;
        let fut = self.inner.accept();
        async move {
            let (s, a) = fut.await?;
            Ok((Segmented::new(s, mss), a))
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn writes_are_cut_at_the_mss_and_reads_pass_through() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (a, mut b) = tokio::io::duplex(1 << 20);
            let mut s = Segmented::new(a, 1000);
            let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
            assert_eq!(
                s.write(&data).await.unwrap(),
                1000,
                "one write, one segment"
            );
            s.write_all(&data[1000..]).await.unwrap();
            let mut got = vec![0u8; 5000];
            b.read_exact(&mut got).await.unwrap();
            assert_eq!(got, data);
            b.write_all(b"back").await.unwrap();
            let mut four = [0u8; 4];
            s.read_exact(&mut four).await.unwrap();
            assert_eq!(&four, b"back");
        });
    }
}
