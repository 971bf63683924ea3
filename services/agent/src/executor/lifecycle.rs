//! The HTTP lifecycle calls of a graceful kill (`/quitquitquit`, `/abortabortabort`): one
//! POST to the task's own port on 127.0.0.1. A tiny HTTP/1.1 client is enough: no body, no
//! redirects, and only the status line matters (for the log); failures are logged and the kill
//! goes on with signals.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// POSTs to `http://127.0.0.1:{port}{path}` and returns the response status code.
pub(crate) async fn post(port: u16, path: &str, timeout: Duration) -> Result<u16, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.windows(2).any(|w| w == b"\r\n") {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        line.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| format!("malformed response {:?}", line.lines().next().unwrap_or("")))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no response within {timeout:?}"))?
}
