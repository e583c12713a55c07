//! Idle detection for HTTP connections: an IO wrapper that stamps every read and write, and a
//! watchdog that closes a connection which moved no bytes and served no request for the idle
//! timeout (keep-alive sockets are otherwise held forever).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// When a connection last moved bytes, and how many requests it is serving now.
#[derive(Clone)]
pub(crate) struct Activity(Arc<State>);

struct State {
    start: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

/// Marks a request in progress until dropped.
pub(crate) struct Busy(Arc<State>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
        self.0.stamp();
    }
}

impl State {
    fn stamp(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity(Arc::new(State {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }))
    }

    /// Marks one request as in progress (a slow handler is not idleness).
    pub(crate) fn busy(&self) -> Busy {
        self.0.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.0.clone())
    }

    /// Drives `connection` until it ends, or drops it once it has been idle for `timeout`.
    pub(crate) async fn close_when_idle<F, T>(&self, connection: F, timeout: Duration) -> T
    where
        F: std::future::Future<Output = T>,
        T: From<IdleClosed>,
    {
        tokio::pin!(connection);
        loop {
            let idle = self.0.idle_for();
            let wait = if self.0.busy.load(Ordering::Acquire) > 0 || idle < timeout {
                timeout.saturating_sub(idle).max(Duration::from_millis(50))
            } else {
                return T::from(IdleClosed);
            };
            tokio::select! {
                result = &mut connection => return result,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The connection was closed for idleness.
#[derive(Debug)]
pub(crate) struct IdleClosed;

impl From<IdleClosed> for Result<(), hyper::Error> {
    fn from(_: IdleClosed) -> Self {
        tracing::debug!("idle HTTP connection closed");
        Ok(())
    }
}

/// An IO stream that stamps [`Activity`] on every successful read and write.
pub(crate) struct IdleIo<S> {
    inner: S,
    activity: Activity,
}

impl<S> IdleIo<S> {
    pub(crate) fn new(inner: S, activity: Activity) -> Self {
        activity.0.stamp();
        IdleIo { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.0.stamp();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.0.stamp();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.0.stamp();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
