//! The executor's tiny HTTP/1.1 client, for the task's own ports on 127.0.0.1: the lifecycle
//! POSTs of a graceful kill (`/quitquitquit`, `/abortabortabort`), where only the status line
//! matters (for the log), and the GETs of HTTP health checks, which also need the body. No
//! redirects, no keep-alive; failures are errors for the caller to log or report.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most of a response body a health check reads.
const MAX_BODY: usize = 64 * 1024;

/// POSTs to `http://127.0.0.1:{port}{path}` and returns the response status code.
pub(crate) async fn post(port: u16, path: &str, timeout: Duration) -> Result<u16, String> {
    let (status, _) = exchange("POST", port, path, false, timeout).await?;
    Ok(status)
}

/// GETs `http://127.0.0.1:{port}{path}` and returns the status code and the body (decoded
/// when chunked, at most 64 KiB).
pub(crate) async fn get(port: u16, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    exchange("GET", port, path, true, timeout).await
}

async fn exchange(
    method: &str,
    port: u16,
    path: &str,
    want_body: bool,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let enough = if want_body {
                parse(&data, false).is_some()
            } else {
                data.windows(2).any(|w| w == b"\r\n")
            };
            if enough || data.len() > MAX_BODY + 16 * 1024 {
                break;
            }
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
        }
        let status = status_code(&data)?;
        if !want_body {
            return Ok((status, String::new()));
        }
        let body = parse(&data, true).map(|(_, body)| body).unwrap_or_default();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no response within {timeout:?}"))?
}

fn status_code(data: &[u8]) -> Result<u16, String> {
    let text = String::from_utf8_lossy(data);
    let line = text.lines().next().unwrap_or("");
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("malformed response {line:?}"))
}

/// `(status, body)` once `data` holds a complete response; with `at_eof`, whatever body there
/// is (the server closed the connection).
fn parse(data: &[u8], at_eof: bool) -> Option<(u16, String)> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&data[..end]);
    let status = status_code(head.as_bytes()).ok()?;
    let rest = &data[end + 4..];
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        match dechunk(rest) {
            Some(body) => body,
            None if at_eof => rest.to_vec(),
            None => return None,
        }
    } else if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if rest.len() < length.min(MAX_BODY) && !at_eof {
            return None;
        }
        rest[..length.min(rest.len())].to_vec()
    } else if at_eof {
        rest.to_vec()
    } else {
        return None;
    };
    let body = &body[..body.len().min(MAX_BODY)];
    Some((status, String::from_utf8_lossy(body).into_owned()))
}

/// The body of a complete chunked encoding, or `None` while it is incomplete.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(body);
        }
        if data.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn parses_complete_responses_only() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        assert_eq!(parse(full, false), Some((200, "ok\n".to_string())));
        assert_eq!(parse(&full[..full.len() - 1], false), None);
        let no_length = b"HTTP/1.0 503 Unavailable\r\nServer: x\r\n\r\nnot yet";
        assert_eq!(parse(no_length, false), None);
        assert_eq!(parse(no_length, true), Some((503, "not yet".to_string())));
        let chunked =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nOK\r\n1\r\n\n\r\n0\r\n\r\n";
        assert_eq!(parse(chunked, false), Some((200, "OK\n".to_string())));
        assert_eq!(parse(&chunked[..60], false), None);
        assert!(status_code(b"garbage").is_err());
    }
}
