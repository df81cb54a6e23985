//! `SegmentedNet`: any [`Net`] with a maximum segment size on writes.
//!
//! turmoil sends each `poll_write` as one message whatever its size, and its
//! flow control (`tcp_capacity`) counts messages. A WebSocket library that
//! writes a multi-MB frame in one call would therefore never meet a full
//! window. Capping each write at `mss` bytes makes the window a byte budget
//! (`tcp_capacity × mss`), as on real TCP, so a whole-message send blocks
//! while the peer is not reading. One `poll_write` hands the inner stream
//! as many such segments as its window takes, in order, and reports their
//! sum. Owns only that cap; reads pass through.

use relaysim_core::net::{Net, NetListener, NetStream};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream that hands its inner stream writes of at most `mss` bytes each.
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
        // Every segment the window takes, in one call: the same writes of
        // at most `mss` bytes reach the wire in the same order as when the
        // caller loops, but a caller that drains its buffer from the front
        // after each write (tungstenite) moves a multi-MB frame once per
        // call instead of once per segment (a third of a ws-bulk seed's
        // time went into those moves).
        if buf.is_empty() {
            return Pin::new(&mut self.inner).poll_write(cx, buf);
        }
        let mut written = 0;
        while written < buf.len() {
            let end = buf.len().min(written + self.mss);
            match Pin::new(&mut self.inner).poll_write(cx, &buf[written..end]) {
                Poll::Ready(Ok(0)) => break,
                Poll::Ready(Ok(n)) => written += n,
                // What was written is reported; the next call meets the
                // error or the full window again.
                Poll::Ready(Err(_)) | Poll::Pending if written > 0 => break,
                other => return other,
            }
        }
        Poll::Ready(Ok(written))
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

    /// A window of `room` bytes that records each write it is offered
    /// and fails every write once `broken`.
    #[derive(Default)]
    struct Window {
        room: usize,
        writes: Vec<usize>,
        broken: bool,
    }

    impl AsyncRead for Window {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Window {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.broken {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if self.room == 0 {
                return Poll::Pending;
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.writes.push(n);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn write_once(s: &mut Segmented<Window>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(s).poll_write(&mut Context::from_waker(std::task::Waker::noop()), buf)
    }

    #[test]
    fn one_write_takes_every_segment_the_window_has_room_for() {
        let data = [7u8; 5000];
        let mut s = Segmented::new(
            Window {
                room: 3500,
                ..Window::default()
            },
            1000,
        );
        // Room for three and a half segments: four writes, none over the mss.
        assert!(matches!(write_once(&mut s, &data), Poll::Ready(Ok(3500))));
        assert_eq!(s.inner.writes, [1000, 1000, 1000, 500]);
        // A full window: nothing written, the caller waits.
        assert!(write_once(&mut s, &data[3500..]).is_pending());
        s.inner.room = 1500;
        assert!(matches!(
            write_once(&mut s, &data[3500..]),
            Poll::Ready(Ok(1500))
        ));
        assert_eq!(s.inner.writes, [1000, 1000, 1000, 500, 1000, 500]);
    }

    #[test]
    fn an_error_after_some_segments_reports_them_then_the_error() {
        let mut s = Segmented::new(
            Window {
                room: 1500,
                ..Window::default()
            },
            1000,
        );
        assert!(matches!(
            write_once(&mut s, &[1u8; 4000]),
            Poll::Ready(Ok(1500))
        ));
        s.inner.broken = true;
        s.inner.room = 1000;
        assert!(matches!(
            write_once(&mut s, &[1u8; 2500]),
            Poll::Ready(Err(_))
        ));
        // An empty write still asks the inner stream, as before.
        assert!(matches!(write_once(&mut s, &[]), Poll::Ready(Err(_))));
    }

    #[test]
    fn bytes_arrive_whole_and_in_order_and_reads_pass_through() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (a, mut b) = tokio::io::duplex(1 << 20);
            let mut s = Segmented::new(a, 1000);
            let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
            s.write_all(&data).await.unwrap();
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
