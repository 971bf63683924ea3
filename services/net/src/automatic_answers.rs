//! Bodies for the answers hyper gives on its own, before any router sees the request.
//!
//! A request hyper cannot parse — a head larger than [`MAX_REQUEST_HEAD_BYTES`] or with more
//! than [`MAX_REQUEST_HEADERS`] headers (431), a URI too long (414), a malformed request line
//! or header (400) — is answered by hyper itself with an empty body and the connection closed:
//! no handler, middleware or fallback runs, and hyper offers no hook to word the answer. A
//! client then sees a bare status with nothing saying which limit it hit.
//!
//! [`AutomaticAnswers`] wraps a connection's stream and recognises such an answer as hyper
//! writes it (status 400, 414 or 431, `content-length: 0`, no `content-type`, `connection:
//! close`, nothing after the head — our handlers never answer an error without a body), and
//! writes in its place the same status with a body naming the problem: the API's JSON error
//! (`{"code", "message"}`) when the request's target is under `/api/` or could not be read,
//! plain text otherwise. Which it was is read from the start of the request as it arrives
//! ([`request_is_api`]); a request whose start is not at the beginning of a read (pipelined
//! behind another) is taken as the previous one's kind.
//!
//! [`MAX_REQUEST_HEAD_BYTES`]: crate::serve::MAX_REQUEST_HEAD_BYTES
//! [`MAX_REQUEST_HEADERS`]: crate::serve::MAX_REQUEST_HEADERS

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::serve::{MAX_REQUEST_HEAD_BYTES, MAX_REQUEST_HEADERS};

/// A connection's stream, with hyper's bodiless answers given bodies (see the module docs).
pub(crate) struct AutomaticAnswers<S> {
    inner: S,
    /// Whether the request being read targets the API (`None`: no request start seen yet).
    api: Option<bool>,
    /// An answer written in place of hyper's, and how much of it has gone out: it goes out
    /// whole before anything else is written, flushed or shut down.
    replacing: Option<(Vec<u8>, usize)>,
}

impl<S> AutomaticAnswers<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            api: None,
            replacing: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> AutomaticAnswers<S> {
    /// Writes what is left of a replacement answer.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((answer, sent)) = &mut self.replacing {
            if *sent == answer.len() {
                self.replacing = None;
                break;
            }
            let written = ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*sent..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += written;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `written` (all of what hyper asked to write) as written when it is one of hyper's
    /// own answers, starting ours in its place; `None` when it is not.
    fn replace(&mut self, cx: &mut Context<'_>, written: &[u8]) -> Option<io::Result<usize>> {
        let answer = replacement(written, self.api.unwrap_or(true))?;
        tracing::debug!(
            status = %String::from_utf8_lossy(&written[..written.len().min(12)]),
            "a request hyper could not parse: its answer given a body"
        );
        self.replacing = Some((answer, 0));
        // hyper flushes and shuts down next, and both finish ours first.
        if let Poll::Ready(Err(e)) = self.poll_replacement(cx) {
            return Some(Err(e));
        }
        Some(Ok(written.len()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AutomaticAnswers<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Some(api) = request_is_api(&buf.filled()[before..]) {
            this.api = Some(api);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AutomaticAnswers<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        if let Some(taken) = this.replace(cx, buf) {
            return Poll::Ready(taken);
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        // hyper's own answer is a head alone: one slice (any others empty).
        let mut filled = bufs.iter().filter(|slice| !slice.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next())
            && let Some(taken) = this.replace(cx, only)
        {
            return Poll::Ready(taken);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Whether `read` starts a request whose target is under `/api/`: `Some` when it begins with
/// a method (capital letters) and a space and enough of the target to tell, `None` when it
/// is not the start of a request line (a header, a body) or too short to say.
pub(crate) fn request_is_api(read: &[u8]) -> Option<bool> {
    let space = read.iter().take(17).position(|&b| b == b' ')?;
    if space == 0 || !read[..space].iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let target = &read[space + 1..];
    if !target.starts_with(b"/") {
        return None;
    }
    const API: &[u8] = b"/api/";
    if target.len() < API.len() {
        // `/api` itself, or too little to say.
        return (target.len() > 1 && !API.starts_with(target)).then_some(false);
    }
    Some(target.starts_with(API))
}

/// The answer to write instead of `written` when `written` is one of hyper's bodiless ones
/// (see the module docs): the same status line and `date`, a body saying what was wrong, as
/// the API's JSON error when `api` and as plain text otherwise.
pub(crate) fn replacement(written: &[u8], api: bool) -> Option<Vec<u8>> {
    let status = written.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let (code, message) = match status {
        b"400" => (
            "INVALID_REQUEST",
            "the request is not valid HTTP/1.1: its request line or a header is malformed \
             (a character HTTP does not allow, or a bad Content-Length or Transfer-Encoding)"
                .to_owned(),
        ),
        b"414" => (
            "REQUEST_TOO_LARGE",
            "the request's URI is longer than this server accepts".to_owned(),
        ),
        b"431" => (
            "REQUEST_TOO_LARGE",
            format!(
                "the request's line and headers are larger than this server accepts: at most \
                 {MAX_REQUEST_HEAD_BYTES} bytes and {MAX_REQUEST_HEADERS} headers"
            ),
        ),
        _ => return None,
    };
    // The head alone, and nothing after it.
    let head = written.strip_suffix(b"\r\n\r\n")?;
    if head.windows(4).any(|w| w == b"\r\n\r\n") {
        return None;
    }
    let mut lines = head.split(|&b| b == b'\n').map(|line| line.trim_ascii());
    let status_line = lines.next()?;
    let mut bodiless = false;
    let mut closes = false;
    let mut date = None;
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with(b"content-type:") {
            return None;
        }
        bodiless |= lower == b"content-length: 0";
        closes |= lower == b"connection: close";
        if lower.starts_with(b"date:") {
            date = Some(line);
        }
    }
    if !(bodiless && closes) {
        return None;
    }
    let (content_type, body) = if api {
        // The messages hold no `"` or `\`: no escaping needed.
        (
            "application/json",
            format!("{{\"code\":\"{code}\",\"message\":\"{message}\"}}\n"),
        )
    } else {
        ("text/plain; charset=utf-8", format!("{message}\n"))
    };
    let mut answer = Vec::with_capacity(256 + body.len());
    answer.extend_from_slice(status_line);
    answer.extend_from_slice(
        format!(
            "\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        )
        .as_bytes(),
    );
    if let Some(date) = date {
        answer.extend_from_slice(date);
        answer.extend_from_slice(b"\r\n");
    }
    answer.extend_from_slice(b"\r\n");
    answer.extend_from_slice(body.as_bytes());
    Some(answer)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HYPER_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Tue, 08 Dec 2026 00:33:38 GMT\r\n\r\n";

    fn split(answer: &[u8]) -> (String, String) {
        let text = String::from_utf8(answer.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (head.to_owned(), body.to_owned())
    }

    #[test]
    fn hypers_431_gets_the_apis_json_error_or_text() {
        let (head, body) = split(&replacement(HYPER_431, true).unwrap());
        assert!(
            head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\ncontent-type: application/json\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
        assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
        assert!(
            head.ends_with("date: Tue, 08 Dec 2026 00:33:38 GMT"),
            "{head}"
        );
        assert!(
            body.starts_with("{\"code\":\"REQUEST_TOO_LARGE\""),
            "{body}"
        );
        assert!(body.contains(&format!("at most {MAX_REQUEST_HEAD_BYTES} bytes")));

        let (head, body) = split(&replacement(HYPER_431, false).unwrap());
        assert!(head.contains("content-type: text/plain"), "{head}");
        assert!(body.starts_with("the request's line and headers are larger"));
    }

    #[test]
    fn only_hypers_own_answers_are_replaced() {
        let bad_request = String::from_utf8(HYPER_431.to_vec())
            .unwrap()
            .replace("431 Request Header Fields Too Large", "400 Bad Request");
        assert!(replacement(bad_request.as_bytes(), true).is_some());
        for other in [
            // Another status, a body, a content type, a connection kept alive, a body after.
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 2\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n{}",
            "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n",
            "HTTP/1.0 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        ] {
            assert!(replacement(other.as_bytes(), true).is_none(), "{other}");
        }
    }

    #[test]
    fn the_request_start_says_whether_it_is_the_apis() {
        assert_eq!(request_is_api(b"GET /api/v1/jobs HTTP/1.1\r\n"), Some(true));
        assert_eq!(request_is_api(b"POST /api/v1/agents/register"), Some(true));
        assert_eq!(request_is_api(b"GET /scheduler HTTP/1.1\r\n"), Some(false));
        assert_eq!(request_is_api(b"GET / HTTP/1.1\r\n"), Some(false));
        assert_eq!(request_is_api(b"GET /x"), Some(false));
        assert_eq!(request_is_api(b"GET /ap"), None, "too short to tell");
        assert_eq!(request_is_api(b"x-big: aaaa"), None, "a header line");
        assert_eq!(request_is_api(b"{\"agent\": 1}"), None, "a body");
        assert_eq!(request_is_api(b""), None);
    }
}
