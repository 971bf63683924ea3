//! The HTTP server of every aurora process, with limits no client can talk it out of:
//!
//! - a **connection cap**: past it, a new connection is answered `503` at once and closed, so
//!   idle or hostile sockets can never use up the process's file descriptors (or leave
//!   `/health` unreachable);
//! - a **header-read timeout**: a connection that does not send a whole request head in time —
//!   an idle socket, a slowloris, a keep-alive connection gone quiet — is closed;
//! - a **body-read timeout**: a request body not received in whole within
//!   [`Limits::body_read_timeout`] of its head fails to read (the handler answers 400 and the
//!   connection closes), so a client trickling a body a byte at a time cannot hold a slot;
//! - a **request-head limit**: at most [`MAX_REQUEST_HEAD_BYTES`] of request line and headers
//!   and [`MAX_REQUEST_HEADERS`] headers, so a connection's read buffer stays small; hyper
//!   answers a request past them (431), and one it cannot parse (400, 414), itself, and
//!   [`AutomaticAnswers`](crate::automatic_answers) gives those answers a body naming the
//!   problem (the API's JSON error for `/api/`), which hyper leaves empty;
//! - a **write-stall timeout**: a connection whose peer takes nothing of what it is sent for
//!   [`Limits::write_stall_timeout`] is closed, whether a write of ours waits on it
//!   ([`WriteDeadline`](crate::write_deadline)) or what the kernel took of it stays
//!   unacknowledged (TCP_USER_TIMEOUT, on Linux), so a client that opens an endless answer (an
//!   event stream) and never reads holds neither its slot nor its buffers for long; a client
//!   that reads, however slowly, is not affected;
//! - graceful shutdown: on `shutdown` it stops accepting, lets requests in flight finish for a
//!   grace period, then closes what is left;
//! - TLS, when given a [`ServerTls`]: the handshake runs on the connection's own task, bounded
//!   by the header-read timeout, so a client that never finishes one holds a slot no longer
//!   than one that never sends a request.
//!
//! Long requests (a work poll, the live event stream) are not cut short: the timeout applies
//! to reading a request's head, not to answering it. They end at shutdown instead: every
//! request carries a [`Shutdown`] extension, and a handler that answers with an endless
//! stream ends it when [`Shutdown::begun`] resolves, so the grace period only waits for
//! ordinary requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::ServerTls;
use crate::automatic_answers::AutomaticAnswers;
use crate::write_deadline::WriteDeadline;

/// The most bytes of request line and headers a request may have. hyper's own default is
/// 408 KiB; no client of ours comes near 64 KiB, and it is also the most hyper buffers of an
/// answer per connection before it waits for the client to read.
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;

/// The most headers a request may have (hyper's default, named so the answer can say it).
pub const MAX_REQUEST_HEADERS: usize = 100;

/// What the server allows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Longest wait for a request's head (the request line and headers).
    pub header_read_timeout: Duration,
    /// Longest wait, from its head, for a request's whole body (`None`: no limit, for servers
    /// that take large uploads).
    pub body_read_timeout: Option<Duration>,
    /// After shutdown begins, how long requests in flight may take to finish.
    pub grace: Duration,
    /// Longest a write may wait on a peer that takes nothing before the connection is closed.
    pub write_stall_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Some(Duration::from_secs(30)),
            grace: Duration::from_secs(10),
            write_stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Whether the server serving a request has begun to shut down: an extension of every request
/// [`serve`] hands its router (extract it as `Option<Extension<Shutdown>>`; routers served
/// some other way, as in tests, have none).
///
/// A connection is only closed once its answer is complete, so an answer that never ends (a
/// server-sent event stream) would hold the shutdown for the whole grace period and cut short
/// the ordinary requests still finishing in it; such streams end on [`Shutdown::begun`].
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once shutdown has begun (at once if it already has, or if the server is gone).
    pub async fn begun(mut self) {
        let _ = self.0.wait_for(|begun| *begun).await;
    }

    /// A signal that `begun` resolves on once `true` is sent, for serving a router some other
    /// way (tests) with streams that should end.
    pub fn channel() -> (watch::Sender<bool>, Self) {
        let (begin, begun) = watch::channel(false);
        (begin, Self(begun))
    }
}

/// What a plain-HTTP connection past the cap is told before it is closed. (Over TLS it is
/// closed at once: an answer written before a handshake would read as garbage.)
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
connection: close\r\ncontent-length: 82\r\n\r\n\
{\"code\":\"ERROR_TRANSIENT\",\"message\":\"too many connections to this server; retry\"}\n";

/// Gives `request`'s body until `limit` after now to arrive in whole: past it, reading the body
/// fails with "not received within", which every extractor reports as a bad request.
async fn body_deadline(
    limit: Duration,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + limit;
    let (parts, body) = request.into_parts();
    let chunks = body.into_data_stream();
    let timed = futures::stream::unfold(Some(chunks), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout_at(deadline, chunks.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(chunks))),
            Ok(None) => None,
            Err(_elapsed) => {
                let late = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the request body was not received within {limit:?}"),
                );
                Some((Err(axum::Error::new(late)), None))
            }
        }
    });
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::from_stream(timed));
    next.run(request).await
}

/// Serves `app` on `listener` until `shutdown` resolves: HTTPS with `tls`, plain HTTP without.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let (begin_shutdown, shutdown_begun) = Shutdown::channel();
    let mut app = app.layer(axum::Extension(shutdown_begun));
    if let Some(limit) = limits.body_read_timeout {
        app = app.layer(axum::middleware::from_fn(move |request, next| {
            body_deadline(limit, request, next)
        }));
    }
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_REQUEST_HEAD_BYTES)
        .max_headers(MAX_REQUEST_HEADERS)
        .keep_alive(true);
    let service = TowerToHyperService::new(app);
    tokio::pin!(shutdown);
    loop {
        let (mut stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Requests and answers here are small messages, each written whole (API calls, agents'
        // heartbeats, Raft RPCs): none should wait for the peer's acknowledgement of the last
        // one, as Nagle's algorithm would make it.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        give_up_on_unacknowledged(&stream, limits.write_stall_timeout);
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if tls.is_some() {
                drop(stream);
                continue;
            }
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
            });
            continue;
        };
        let stream = WriteDeadline::new(stream, limits.write_stall_timeout);
        let (builder, service, graceful) = (builder.clone(), service.clone(), &graceful);
        match &tls {
            None => {
                let io = TokioIo::new(AutomaticAnswers::new(stream));
                let watched = graceful.watch(builder.serve_connection(io, service));
                tokio::spawn(async move {
                    if let Err(e) = watched.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
            Some(tls) => {
                let handshake = handshake(tls, stream, limits.header_read_timeout);
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    if let Some(stream) = handshake.await {
                        let io = TokioIo::new(AutomaticAnswers::new(stream));
                        let connection = builder.serve_connection(io, service);
                        if let Err(e) = watcher.watch(connection).await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    }
                    drop(slot);
                });
            }
        }
    }
    // Endless answers end now, rather than at the end of the grace period.
    let _ = begin_shutdown.send(true);
    if tokio::time::timeout(limits.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the grace period; closing them");
    }
}

/// The kernel's half of the write-stall timeout: what was written but not acknowledged
/// (TCP_USER_TIMEOUT), including a receive window held shut, for `limit` closes the
/// connection. A kernel takes megabytes into a socket's send buffer before a write waits, so a
/// client that stopped reading an answer that fitted there would never make one wait, and
/// would hold its slot and that memory for as long as it stayed connected.
fn give_up_on_unacknowledged(stream: &TcpStream, limit: Duration) {
    #[cfg(target_os = "linux")]
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(limit)) {
        tracing::debug!(error = %e, "could not set TCP_USER_TIMEOUT");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (stream, limit);
}

/// The server side of a TLS handshake, given `timeout` to finish. A failed or slow one is
/// logged at debug level (a scanner or a client without the CA is not an event) and dropped.
fn handshake(
    tls: &ServerTls,
    stream: WriteDeadline<TcpStream>,
    timeout: Duration,
) -> impl Future<Output = Option<tokio_rustls::server::TlsStream<WriteDeadline<TcpStream>>>> + use<>
{
    let accepting = tls.acceptor().accept(stream);
    async move {
        match tokio::time::timeout(timeout, accepting).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                None
            }
        }
    }
}
