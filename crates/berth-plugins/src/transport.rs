//! The byte pipe under the plugin client: a connector for hyper-util's
//! pooling client that dials the plugin's unix socket or TCP address, and
//! the classification of what went wrong, which decides whether a call is
//! tried again.

use crate::discovery::Addr;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// One connection to a plugin.
pub(crate) enum Stream {
    Unix(TokioIo<tokio::net::UnixStream>),
    Tcp(TokioIo<tokio::net::TcpStream>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Dials one plugin, whatever the URI says (the pool keys on it only).
#[derive(Clone)]
pub(crate) struct Connector(pub Arc<Addr>);

/// A failed dial, with where it went (the pool's error hides the URI).
#[derive(Debug, thiserror::Error)]
#[error("connecting to {target}: {source}")]
pub(crate) struct ConnectError {
    pub target: String,
    #[source]
    pub source: io::Error,
}

type Dial = Pin<Box<dyn Future<Output = Result<Stream, ConnectError>> + Send>>;

impl tower::Service<hyper::Uri> for Connector {
    type Response = Stream;
    type Error = ConnectError;
    type Future = Dial;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Dial {
        let addr = self.0.clone();
        Box::pin(async move {
            match &*addr {
                Addr::Unix(path) => tokio::net::UnixStream::connect(path)
                    .await
                    .map(|s| Stream::Unix(TokioIo::new(s)))
                    .map_err(|source| ConnectError {
                        target: path.display().to_string(),
                        source,
                    }),
                Addr::Tcp(hp) => {
                    let s =
                        tokio::net::TcpStream::connect(hp.as_str())
                            .await
                            .map_err(|source| ConnectError {
                                target: hp.clone(),
                                source,
                            })?;
                    let _ = s.set_nodelay(true);
                    Ok(Stream::Tcp(TokioIo::new(s)))
                }
            }
        })
    }
}

/// What a failed attempt says about the plugin, and so whether to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Alive but not accepting now: its listen backlog is full (`EAGAIN`),
    /// or the dial timed out. Tried again until the call's deadline.
    Busy,
    /// Nobody listens (`ECONNREFUSED`) or the socket is gone (`ENOENT`):
    /// dead or restarting. Tried again only briefly.
    Gone,
    /// The connection closed under the request before any answer came (a
    /// kept-alive connection the plugin had just closed). Tried once more.
    Dropped,
    /// Anything else: not tried again.
    Fatal,
}

/// Classifies an error of the pooling client by what is in its chain.
pub(crate) fn classify(e: &(dyn std::error::Error + 'static)) -> Failure {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut dial = false;
    while let Some(err) = cur {
        if err.is::<ConnectError>() {
            dial = true;
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return classify_io(io, dial);
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_canceled() || h.is_incomplete_message() {
                return Failure::Dropped;
            }
        }
        cur = err.source();
    }
    Failure::Fatal
}

fn classify_io(e: &io::Error, dial: bool) -> Failure {
    use io::ErrorKind as K;
    match (dial, e.kind()) {
        (true, K::WouldBlock | K::TimedOut | K::Interrupted) => Failure::Busy,
        (true, K::ConnectionRefused | K::NotFound) => Failure::Gone,
        (true, _) if e.raw_os_error() == Some(libc::EAGAIN) => Failure::Busy,
        (true, _) => Failure::Fatal,
        (false, K::ConnectionReset | K::BrokenPipe | K::UnexpectedEof) => Failure::Dropped,
        (false, _) => Failure::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dial(kind: io::Error) -> ConnectError {
        ConnectError {
            target: "/x.sock".into(),
            source: kind,
        }
    }

    #[test]
    fn dial_errors_are_told_apart() {
        let c = |e: io::Error| classify(&dial(e));
        assert_eq!(c(io::Error::from_raw_os_error(libc::EAGAIN)), Failure::Busy);
        assert_eq!(
            c(io::Error::from_raw_os_error(libc::ECONNREFUSED)),
            Failure::Gone
        );
        assert_eq!(c(io::Error::from_raw_os_error(libc::ENOENT)), Failure::Gone);
        assert_eq!(
            c(io::Error::from_raw_os_error(libc::EACCES)),
            Failure::Fatal
        );
        // A reset after the request went out is not a dial failure.
        let reset = io::Error::from_raw_os_error(libc::ECONNRESET);
        assert_eq!(classify(&reset), Failure::Dropped);
        assert_eq!(
            classify(&io::Error::other("something else")),
            Failure::Fatal
        );
    }
}
