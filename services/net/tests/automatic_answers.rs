//! What `aurora_net::serve` answers to a request hyper rejects before any router sees it: a
//! head past the limits (431) or one that does not parse (400). hyper's own answer has an
//! empty body; these have one naming the problem, as the API's JSON error for `/api/` paths
//! and as plain text elsewhere, over plain HTTP and HTTPS alike.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::time::Duration;

use aurora_net::serve::{MAX_REQUEST_HEAD_BYTES, MAX_REQUEST_HEADERS};
use aurora_net::testing::Pki;
use aurora_net::{ClientTls, Limits, ServerTls};
use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server answering `/api/v1/jobs` and `/scheduler`, and its address.
async fn start(tls: Option<ServerTls>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/api/v1/jobs", get(|| async { "[]" }))
        .route("/scheduler", get(|| async { "page" }));
    tokio::spawn(aurora_net::serve(
        listener,
        app,
        Limits::default(),
        tls,
        std::future::pending(),
    ));
    addr
}

/// Sends `requests` on one connection and reads until the server closes it.
async fn exchange(addr: std::net::SocketAddr, requests: &[Vec<u8>]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for request in requests {
        // The server may answer and close before it has read a head past its limit.
        let _ = stream.write_all(request).await;
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .ok();
    String::from_utf8(answer).unwrap()
}

fn request(path: &str, extra_headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: x\r\n{extra_headers}\r\n").into_bytes()
}

/// A header well past the limit (hyper checks it between reads, so a head just past it that
/// arrives in one read can pass).
fn big_header() -> String {
    format!("x-big: {}\r\n", "x".repeat(2 * MAX_REQUEST_HEAD_BYTES))
}

/// The one answer in `answer`: its status line, a header's value and its body.
fn parts(answer: &str) -> (&str, String, &str) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    let status = head.lines().next().unwrap();
    let content_type = head
        .lines()
        .find_map(|line| line.strip_prefix("content-type: "))
        .unwrap_or("")
        .to_owned();
    (status, content_type, body)
}

#[tokio::test]
async fn a_head_past_the_limit_is_a_431_naming_it() {
    let addr = start(None).await;

    let answer = exchange(addr, &[request("/api/v1/jobs", &big_header())]).await;
    let (status, content_type, body) = parts(&answer);
    assert_eq!(
        status, "HTTP/1.1 431 Request Header Fields Too Large",
        "{answer}"
    );
    assert_eq!(content_type, "application/json");
    let error: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(error["code"], "REQUEST_TOO_LARGE");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("at most {MAX_REQUEST_HEAD_BYTES} bytes"))
            && message.contains(&format!("{MAX_REQUEST_HEADERS} headers")),
        "{message}"
    );

    let answer = exchange(addr, &[request("/scheduler", &big_header())]).await;
    let (status, content_type, body) = parts(&answer);
    assert!(status.starts_with("HTTP/1.1 431 "), "{answer}");
    assert_eq!(content_type, "text/plain; charset=utf-8");
    assert!(
        body.contains(&format!("at most {MAX_REQUEST_HEAD_BYTES} bytes")),
        "{body}"
    );

    // Too many headers, each small.
    let many: String = (0..=MAX_REQUEST_HEADERS)
        .map(|i| format!("x-h{i}: a\r\n"))
        .collect();
    let answer = exchange(addr, &[request("/api/v1/jobs", &many)]).await;
    let (status, content_type, _) = parts(&answer);
    assert!(status.starts_with("HTTP/1.1 431 "), "{answer}");
    assert_eq!(content_type, "application/json");
}

/// On a connection kept alive, the request that fails is the one whose kind counts.
#[tokio::test]
async fn the_failing_request_on_a_kept_alive_connection_decides_the_form() {
    let addr = start(None).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&request("/api/v1/jobs", ""))
        .await
        .unwrap();
    let mut first = vec![0; 4096];
    let read = stream.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200 OK"));
    let _ = stream
        .write_all(&request("/scheduler", &big_header()))
        .await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .ok();
    let answer = String::from_utf8(answer).unwrap();
    let (status, content_type, _) = parts(&answer);
    assert!(status.starts_with("HTTP/1.1 431 "), "{answer}");
    assert_eq!(content_type, "text/plain; charset=utf-8");
}

#[tokio::test]
async fn a_request_that_does_not_parse_is_a_400_saying_so() {
    let addr = start(None).await;
    for malformed in [
        // A space in a header name; two different lengths for one body.
        request("/api/v1/agents/register", "bad header: x\r\n"),
        b"POST /api/v1/agents/register HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 2\r\ncontent-length: 3\r\n\r\n{}"
            .to_vec(),
    ] {
        let answer = exchange(addr, &[malformed]).await;
        let (status, content_type, body) = parts(&answer);
        assert_eq!(status, "HTTP/1.1 400 Bad Request", "{answer}");
        assert_eq!(content_type, "application/json");
        let error: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(error["code"], "INVALID_REQUEST");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("not valid HTTP/1.1"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn over_tls_too() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let tls = ServerTls::load(&pki.server_cert, &pki.server_key, None).unwrap();
    let addr = start(Some(tls)).await;
    let client = ClientTls {
        ca_file: Some(pki.ca.clone()),
        identity: None,
    }
    .builder()
    .unwrap()
    .timeout(Duration::from_secs(10))
    .build()
    .unwrap();
    let response = client
        .get(format!("https://localhost:{}/api/v1/jobs", addr.port()))
        .header("x-big", "x".repeat(2 * MAX_REQUEST_HEAD_BYTES))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 431);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["code"], "REQUEST_TOO_LARGE", "{error}");
}
