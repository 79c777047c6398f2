//! A TCP listener for medic's webhook receiver that a client cannot hold
//! open: at most `max_connections` at once (more wait in the kernel's
//! backlog), a connection that sends nothing for `idle` (slow headers, a
//! stalled body) is closed, and none lives longer than `lifetime`.
//!
//! axum 0.8's `serve` sets no header timeout, so the bounds live here, in
//! the bytes, where no route can forget them.

use axum::serve::Listener;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// How long a client may stay silent, how long a connection may live, how many at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Close a connection that sends nothing for this long.
    pub idle: Duration,
    /// Close every connection after this long.
    pub lifetime: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle: Duration::from_secs(10),
            lifetime: Duration::from_secs(120),
            max_connections: 64,
        }
    }
}

/// A [`TcpListener`] that enforces [`Limits`] on every connection it accepts.
pub struct Guarded {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    limits: Limits,
}

impl Guarded {
    /// Wraps `inner`.
    pub fn new(inner: TcpListener, limits: Limits) -> Guarded {
        Guarded {
            inner,
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            limits,
        }
    }
}

impl Listener for Guarded {
    type Io = GuardedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (GuardedIo, SocketAddr) {
        // The semaphore is never closed: a permit always comes.
        let permit = loop {
            if let Ok(p) = self.permits.clone().acquire_owned().await {
                break p;
            }
        };
        let (io, addr) = Listener::accept(&mut self.inner).await;
        let now = Instant::now();
        (
            GuardedIo {
                io,
                _permit: permit,
                idle_for: self.limits.idle,
                idle: Box::pin(tokio::time::sleep_until(now + self.limits.idle)),
                end: Box::pin(tokio::time::sleep_until(now + self.limits.lifetime)),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// One accepted connection: its slot is given back when it drops.
pub struct GuardedIo {
    io: TcpStream,
    _permit: OwnedSemaphorePermit,
    idle_for: Duration,
    idle: Pin<Box<Sleep>>,
    end: Pin<Box<Sleep>>,
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}

impl GuardedIo {
    fn check_end(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.end.as_mut().poll(cx).is_ready() {
            return Err(timed_out("connection lived too long"));
        }
        Ok(())
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check_end(cx)?;
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    let at = Instant::now() + self.idle_for;
                    self.idle.as_mut().reset(at);
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                ready!(self.idle.as_mut().poll(cx));
                Poll::Ready(Err(timed_out("client sent nothing for too long")))
            }
        }
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check_end(cx)?;
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check_end(cx)?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
