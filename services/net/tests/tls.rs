//! HTTPS through `aurora_net::serve` and `ClientTls`, against certificates made for the test:
//! who is trusted, who is refused, and what a bad file is told.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::path::PathBuf;
use std::time::Duration;

use aurora_net::testing::Pki;
use aurora_net::{ClientTls, Limits, ServerTls};
use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

struct Server {
    url: String,
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(tls: Option<ServerTls>, limits: Limits) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/hello", get(|| async { "hello" }))
            .route(
                "/echo",
                axum::routing::post(|body: String| async move { body }),
            );
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(aurora_net::serve(listener, app, limits, tls, async move {
            let _ = stopped.await;
        }));
        Self {
            url: format!("{scheme}://{addr}/hello"),
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().map(|stop| stop.send(()));
        tokio::time::timeout(Duration::from_secs(15), &mut self.task)
            .await
            .expect("the server stops")
            .unwrap();
    }
}

fn pki() -> (tempfile::TempDir, Pki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    (dir, pki)
}

async fn get_with(tls: &ClientTls, url: &str) -> Result<String, String> {
    let client = tls
        .builder()
        .unwrap()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    match client.get(url).send().await {
        Ok(response) => Ok(response.text().await.map_err(|e| e.to_string())?),
        Err(e) => Err(format!("{e:?}")),
    }
}

fn trusting(pki: &Pki) -> ClientTls {
    ClientTls {
        ca_file: Some(pki.ca.clone()),
        identity: None,
    }
}

#[tokio::test]
async fn a_client_that_trusts_the_ca_is_served_and_one_that_does_not_is_refused() {
    let (_dir, pki) = pki();
    let tls = ServerTls::load(&pki.server_cert, &pki.server_key, None).unwrap();
    assert!(!tls.requires_client_certificates());
    let server = Server::start(Some(tls), Limits::default()).await;

    assert_eq!(
        get_with(&trusting(&pki), &server.url).await.unwrap(),
        "hello"
    );
    // The system's roots do not include the test CA; nor does a stranger's CA file.
    let refused = get_with(&ClientTls::default(), &server.url)
        .await
        .unwrap_err();
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    let stranger = ClientTls {
        ca_file: Some(pki.stranger_ca.clone()),
        identity: None,
    };
    let refused = get_with(&stranger, &server.url).await.unwrap_err();
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = server.url.replace("https://", "http://");
    assert!(get_with(&trusting(&pki), &plain).await.is_err());
    // A name the certificate does not cover is refused even with the right CA.
    let misnamed = format!("https://aurora.invalid:{}/hello", server.addr.port());
    let client = trusting(&pki)
        .builder()
        .unwrap()
        .resolve("aurora.invalid", server.addr)
        .build()
        .unwrap();
    let refused = format!("{:?}", client.get(&misnamed).send().await.unwrap_err());
    assert!(refused.contains("NotValidForName"), "{refused}");
    server.stop().await;
}

#[tokio::test]
async fn required_client_certificates_admit_only_the_cas_clients() {
    let (_dir, pki) = pki();
    let tls = ServerTls::load(&pki.server_cert, &pki.server_key, Some(&pki.ca)).unwrap();
    assert!(tls.requires_client_certificates());
    let server = Server::start(Some(tls), Limits::default()).await;

    let with_identity = |cert: &PathBuf, key: &PathBuf| ClientTls {
        ca_file: Some(pki.ca.clone()),
        identity: Some((cert.clone(), key.clone())),
    };
    let admitted = with_identity(&pki.client_cert, &pki.client_key);
    assert_eq!(get_with(&admitted, &server.url).await.unwrap(), "hello");
    // No certificate, or one from a CA the server does not trust: no answer.
    assert!(get_with(&trusting(&pki), &server.url).await.is_err());
    let stranger = with_identity(&pki.stranger_cert, &pki.stranger_key);
    assert!(get_with(&stranger, &server.url).await.is_err());
    // The server still answers its own clients afterwards.
    assert_eq!(get_with(&admitted, &server.url).await.unwrap(), "hello");
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_is_closed_and_frees_its_slot() {
    let (_dir, pki) = pki();
    let tls = ServerTls::load(&pki.server_cert, &pki.server_key, None).unwrap();
    let limits = Limits {
        max_connections: 1,
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: None,
        grace: Duration::from_secs(1),
        ..Limits::default()
    };
    let server = Server::start(Some(tls), limits).await;
    // A silent socket takes the only slot, then is closed by the server.
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buffer))
        .await
        .expect("the server closes a silent connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // Its slot is free again: a real client is served.
    assert_eq!(
        get_with(&trusting(&pki), &server.url).await.unwrap(),
        "hello"
    );
    let _ = silent.write_all(b"late").await;
    server.stop().await;
}

#[test]
fn bad_files_are_errors_that_name_the_file() {
    let (dir, pki) = pki();
    let missing = dir.path().join("missing.pem");
    let error = ServerTls::load(&missing, &pki.server_key, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("certificate file") && error.contains("missing.pem"),
        "{error}"
    );

    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let error = ServerTls::load(&not_pem, &pki.server_key, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("not.pem") && error.contains("no CERTIFICATE"),
        "{error}"
    );
    let error = ServerTls::load(&pki.server_cert, &not_pem, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("not.pem") && error.contains("no PRIVATE KEY"),
        "{error}"
    );
    // The client's key with the server's certificate.
    let error = ServerTls::load(&pki.server_cert, &pki.client_key, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("does not go with") && error.contains("server.pem"),
        "{error}"
    );
    let error = ClientTls {
        ca_file: Some(not_pem.clone()),
        identity: None,
    }
    .config()
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("CA certificate") && error.contains("not.pem"),
        "{error}"
    );
    // Half a pair of flags is refused before any file is read.
    assert!(ServerTls::from_flags(Some(&pki.server_cert), None, None).is_err());
    assert!(ServerTls::from_flags(None, None, Some(&pki.ca)).is_err());
    assert!(ServerTls::from_flags(None, None, None).unwrap().is_none());
    assert!(ClientTls::from_parts(None, Some(pki.client_cert.clone()), None).is_err());
}

#[test]
fn the_blocking_client_speaks_tls_too() {
    let (_dir, pki) = pki();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tls = ServerTls::load(&pki.server_cert, &pki.server_key, None).unwrap();
    let server = runtime.block_on(Server::start(Some(tls), Limits::default()));
    let client = trusting(&pki).blocking_builder().unwrap().build().unwrap();
    let body = client.get(&server.url).send().unwrap().text().unwrap();
    assert_eq!(body, "hello");
    drop(client);
    runtime.block_on(server.stop());
}

/// A renewed certificate is served after `reload` without a restart, to new connections; files
/// that do not load leave the certificate in use and name the file.
#[tokio::test]
async fn a_reload_serves_the_renewed_certificate_and_a_bad_one_changes_nothing() {
    let (_old_dir, old) = pki();
    let (_new_dir, new) = pki();
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::copy(&old.server_cert, &cert).unwrap();
    std::fs::copy(&old.server_key, &key).unwrap();
    let tls = ServerTls::load(&cert, &key, None).unwrap();
    let server = Server::start(Some(tls.clone()), Limits::default()).await;
    assert_eq!(
        get_with(&trusting(&old), &server.url).await.unwrap(),
        "hello"
    );
    assert!(get_with(&trusting(&new), &server.url).await.is_err());

    std::fs::copy(&new.server_cert, &cert).unwrap();
    std::fs::copy(&new.server_key, &key).unwrap();
    tls.reload().unwrap();
    assert_eq!(
        get_with(&trusting(&new), &server.url).await.unwrap(),
        "hello"
    );
    // The two test CAs share a name, so the old one sees a certificate it did not sign.
    let refused = get_with(&trusting(&old), &server.url).await.unwrap_err();
    assert!(refused.contains("InvalidCertificate"), "{refused}");

    std::fs::write(&cert, "not a certificate\n").unwrap();
    let error = tls.reload().unwrap_err().to_string();
    assert!(error.contains("cert.pem"), "{error}");
    assert_eq!(
        get_with(&trusting(&new), &server.url).await.unwrap(),
        "hello"
    );
    server.stop().await;
}

/// A client trickling a request body is answered (400, naming the timeout) once the body
/// deadline passes, and its slot is free again.
#[tokio::test]
async fn a_body_sent_too_slowly_is_cut_off_and_frees_its_slot() {
    let limits = Limits {
        max_connections: 1,
        header_read_timeout: Duration::from_secs(5),
        body_read_timeout: Some(Duration::from_millis(500)),
        grace: Duration::from_secs(1),
        ..Limits::default()
    };
    let server = Server::start(None, limits).await;
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\na")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 1024];
        loop {
            match slow.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server ends the slow request");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("not received within"), "{answer}");
    let mut quick = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    quick
        .write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 5\r\n\r\nquick")
        .await
        .unwrap();
    let mut echoed = String::new();
    tokio::time::timeout(Duration::from_secs(10), quick.read_to_string(&mut echoed))
        .await
        .expect("answered")
        .unwrap();
    assert!(echoed.starts_with("HTTP/1.1 200"), "{echoed}");
    let echoed = echoed
        .rsplit("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(echoed, "quick");
    server.stop().await;
}
