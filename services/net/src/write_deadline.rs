//! A connection's stream that gives up on a peer that stops reading.
//!
//! A client that connects to an endless answer (a server-sent event stream) and never reads
//! fills its receive window, then the kernel's send buffer, then hyper's (bounded) write
//! buffer; hyper then waits on the socket, and without a deadline it waits for ever, holding
//! the connection's slot, its buffers and whatever the answer's stream holds. [`WriteDeadline`]
//! fails a write that has made no progress for the limit, so hyper closes the connection and
//! drops the answer. A peer that reads, however slowly, keeps its connection: each write that
//! goes through starts the wait again. Waiting for a request (an idle keep-alive connection, a
//! long poll) writes nothing and is not affected.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A stream whose writes fail once the peer has taken nothing for `limit`.
pub(crate) struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    /// Running while a write waits on the peer; cleared by any write that goes through.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    pub(crate) fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled: None,
        }
    }

    /// What a write that is still waiting returns: still waiting, or an error once it has
    /// waited `limit` since the last write went through.
    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let limit = self.limit;
        let deadline = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                tracing::debug!(?limit, "closing a connection whose peer stopped reading");
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the peer read nothing for {limit:?}"),
                )))
            }
        }
    }

    fn progressed<T>(
        &mut self,
        done: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match done {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.waiting(cx),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let done = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progressed(done, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let done = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progressed(done, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let done = Pin::new(&mut this.inner).poll_flush(cx);
        this.progressed(done, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let done = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.progressed(done, cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A peer that stops reading fails the write after the limit; until then, and for a peer
    /// that reads, writes go through.
    #[tokio::test]
    async fn a_write_the_peer_does_not_take_fails_after_the_limit() {
        let limit = Duration::from_millis(300);
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut guarded = WriteDeadline::new(ours, limit);
        guarded.write_all(&[1; 64]).await.unwrap();
        // The peer takes it, slowly (each time for most of the limit): each write that goes
        // through starts the wait again.
        for _ in 0..3 {
            let reader = async {
                tokio::time::sleep(limit * 2 / 3).await;
                let mut taken = [0; 64];
                theirs.read_exact(&mut taken).await.unwrap();
            };
            let (_, written) = tokio::join!(reader, guarded.write_all(&[2; 64]));
            written.unwrap();
        }
        // Now it stops reading: the buffer is full, and the next write waits, then fails.
        let started = tokio::time::Instant::now();
        let error = guarded.write_all(&[3; 64]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= limit, "{:?}", started.elapsed());
        assert!(error.to_string().contains("read nothing"), "{error}");
    }
}
