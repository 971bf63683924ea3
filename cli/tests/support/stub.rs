//! A stand-in scheduler for tests that need a scheduler's answers but not a scheduler: a
//! blocking HTTP/1.1 server on a loopback port. For each request it reads, a handler says what
//! to do: answer, close the connection without a word (a replica that died mid-request), or
//! hold it open unanswered (a hung process). Every request read is recorded, so a test can
//! check what the client sent.
//!
//! One request per connection, one connection at a time: it answers `Connection: close`, and
//! the clients under test need nothing more. Each read and the stand-in's whole life are
//! bounded in time, so a broken test fails rather than hangs; dropping it stops it.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The longest a stand-in serves: long past any test's last request, short enough that one
/// a test forgot (or a test that hangs) does not hold its port and thread for ever.
const LIFETIME: Duration = Duration::from_secs(60);

/// The longest one request may take to arrive whole; a client that connects and stalls is
/// then dropped, as a read timeout would.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the stand-in looks for a new connection, or whether it has been dropped, while
/// it waits: its listener and reads never block for longer.
const POLL: Duration = Duration::from_millis(10);

/// One request as the stand-in read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request line as sent, without its line end: `GET /api/v1/jobs?role=tester HTTP/1.1`.
    pub line: String,
    pub method: String,
    /// The path with its query: `/api/v1/jobs?role=tester`.
    pub path: String,
    /// Every header, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body as text (the clients send JSON).
    pub body: String,
}

impl Request {
    /// The value of the first header called `name`, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What the stand-in does with a request it has read.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer with this status, headers and body, then close the connection.
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Close the connection without answering: the client cannot tell whether the request
    /// was carried out.
    Close,
    /// Hold the connection open without answering until the stand-in is dropped: the client
    /// waits for as long as it is willing to.
    Hang,
}

impl Reply {
    /// `value` as a JSON body with this status.
    pub fn json(status: u16, value: Value) -> Self {
        Self::raw(status, value.to_string())
    }

    /// `body` sent as written, as a JSON body with this status (for a test's own JSON text).
    pub fn raw(status: u16, body: impl Into<String>) -> Self {
        Self::Answer {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    /// The same answer with one more header (nothing for a reply that does not answer).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Self::Answer { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// A stand-in scheduler serving until it is dropped (or [`LIFETIME`] has passed).
#[derive(Debug)]
pub struct Stub {
    /// `http://127.0.0.1:<port>`, as a cluster's `scheduler_uri` names it.
    pub url: String,
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stub {
    /// Serves every connection with what `handler` says of its request.
    pub fn new(handler: impl FnMut(&Request) -> Reply + Send + 'static) -> Self {
        Self::start(None, handler)
    }

    /// Gives every request the same `reply`.
    pub fn always(reply: Reply) -> Self {
        Self::new(move |_| reply.clone())
    }

    /// Gives the replies of `script` in order, one per request (so one per connection); after
    /// the last it stops listening, so that a further request is refused, as by a scheduler
    /// that has gone away, rather than answered with something the script did not say.
    pub fn script(script: Vec<Reply>) -> Self {
        let limit = script.len();
        let mut replies = script.into_iter();
        // Never called more than `limit` times: the listener closes after that many requests.
        Self::start(Some(limit), move |_| replies.next().unwrap_or(Reply::Close))
    }

    /// The request lines received, in order: `GET /leaderhealth HTTP/1.1`.
    pub fn received(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.line).collect()
    }

    /// The requests received, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Serves `handler` on a new loopback port, closing the listener once it has served
    /// `limit` requests if there is a limit.
    fn start(
        limit: Option<usize>,
        handler: impl FnMut(&Request) -> Reply + Send + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        // Polled, so the thread notices it is dropped instead of blocking in accept for ever.
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("the bound address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let server = Server {
            requests: Arc::clone(&requests),
            stop: Arc::clone(&stop),
            deadline: Instant::now() + LIFETIME,
        };
        let thread = std::thread::spawn(move || server.run(listener, limit, handler));
        Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Waited for, so the port and any held connections are closed once the stand-in is
        // gone; the thread looks at `stop` at least every `POLL`. A handler that panicked has
        // already said so on stderr, and the test's own checks say what came of it.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The stand-in's side of its thread.
struct Server {
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
}

impl Server {
    /// How many requests have been read (and given to the handler).
    fn served(&self) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn done(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }

    fn run(
        &self,
        listener: TcpListener,
        limit: Option<usize>,
        mut handler: impl FnMut(&Request) -> Reply,
    ) {
        // Connections held unanswered ([`Reply::Hang`]); closed when the thread ends.
        let mut held: Vec<TcpStream> = Vec::new();
        while !self.done() && limit.is_none_or(|limit| self.served() < limit) {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(POLL);
                continue;
            };
            if let Some(stream) = self.serve(stream, &mut handler) {
                held.push(stream);
            }
        }
        // Dropped, or a script is done: the listener closes now, so that further connections
        // are refused as by a scheduler that has gone; connections held unanswered stay open
        // until the drop.
        drop(listener);
        while !held.is_empty() && !self.done() {
            std::thread::sleep(POLL);
        }
    }

    /// Reads one request from `stream` and does what `handler` says; returns the stream if it
    /// is to be held open.
    fn serve(
        &self,
        mut stream: TcpStream,
        handler: &mut impl FnMut(&Request) -> Reply,
    ) -> Option<TcpStream> {
        let request = self.read_request(&mut stream)?;
        // Recorded before the reply goes out: once the client has its answer, the test may
        // look at what was received.
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request.clone());
        match handler(&request) {
            Reply::Answer {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} X\r\n");
                for (name, value) in &headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str(&format!(
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                ));
                // A client that has gone no longer cares; the connection closes either way.
                let _ = stream
                    .set_write_timeout(Some(REQUEST_TIMEOUT))
                    .and_then(|()| stream.write_all(head.as_bytes()))
                    .and_then(|()| stream.write_all(body.as_bytes()));
                None
            }
            Reply::Close => None,
            Reply::Hang => Some(stream),
        }
    }

    /// Reads a request line, headers and a `Content-Length` body from `stream`: `None` if the
    /// client closes first, sends something else, takes longer than [`REQUEST_TIMEOUT`] or
    /// the stand-in is dropped meanwhile.
    fn read_request(&self, stream: &mut TcpStream) -> Option<Request> {
        // Accepted sockets may inherit the listener's non-blocking mode; reads wait at most
        // `POLL` so that the deadline and `stop` are looked at between them.
        stream.set_nonblocking(false).ok()?;
        stream.set_read_timeout(Some(POLL)).ok()?;
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let mut bytes = Vec::new();
        let head_end = loop {
            if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            self.read_more(stream, &mut bytes, deadline)?;
        };
        let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let line = lines.next()?.to_string();
        let mut words = line.split(' ');
        let method = words.next()?.to_string();
        let path = words.next()?.to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|header| header.split_once(':'))
            .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .map_or(Some(0), |(_, value)| value.parse().ok())?;
        let body_start = head_end + 4;
        while bytes.len() < body_start + length {
            self.read_more(stream, &mut bytes, deadline)?;
        }
        let body = String::from_utf8_lossy(&bytes[body_start..body_start + length]).into_owned();
        Some(Request {
            line,
            method,
            path,
            headers,
            body,
        })
    }

    /// Appends what `stream` has next to `bytes`, waiting until `deadline` at most; `None` at
    /// the end of the stream, an error, the deadline or a drop.
    fn read_more(
        &self,
        stream: &mut TcpStream,
        bytes: &mut Vec<u8>,
        deadline: Instant,
    ) -> Option<()> {
        let mut chunk = [0u8; 4096];
        loop {
            if self.done() || Instant::now() >= deadline {
                return None;
            }
            match stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => {
                    bytes.extend_from_slice(&chunk[..n]);
                    return Some(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return None,
            }
        }
    }
}
