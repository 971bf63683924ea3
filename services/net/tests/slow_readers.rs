//! A client that stops reading an endless answer is closed once nothing has gone out to it for
//! `Limits::write_stall_timeout`, and its answer dropped; a client that reads keeps its own.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aurora_net::Limits;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Counts the answers dropped.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `/endless`: 4 KiB chunks for as long as the client takes them.
fn app(dropped: Arc<AtomicUsize>) -> Router {
    Router::new().route(
        "/endless",
        get(move || {
            let counted = Counted(Arc::clone(&dropped));
            async move {
                let chunks = futures::stream::unfold(counted, |counted| async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    Some((
                        Ok::<_, std::convert::Infallible>(Bytes::from(vec![b'x'; 4096])),
                        counted,
                    ))
                });
                Body::from_stream(chunks)
            }
        }),
    )
}

/// `/burst`: 512 KiB, then nothing more, without ending.
fn burst(dropped: Arc<AtomicUsize>) -> Router {
    Router::new().route(
        "/burst",
        get(move || {
            let counted = Counted(Arc::clone(&dropped));
            async move {
                let burst = futures::stream::iter(
                    (0..128)
                        .map(|_| Ok::<_, std::convert::Infallible>(Bytes::from(vec![b'x'; 4096]))),
                );
                let quiet = futures::stream::unfold(counted, |counted| async move {
                    std::future::pending::<()>().await;
                    Some((Ok(Bytes::new()), counted))
                });
                Body::from_stream(futures::StreamExt::chain(burst, quiet))
            }
        }),
    )
}

const REQUEST: &[u8] = b"GET /endless HTTP/1.1\r\nhost: x\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_a_reading_one_is_not() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        write_stall_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    tokio::spawn(aurora_net::serve(
        listener,
        app(Arc::clone(&dropped)),
        limits,
        None,
        std::future::pending(),
    ));

    // One client with a small window that never reads; one that reads all along.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    stalled.write_all(REQUEST).await.unwrap();
    let mut reading = TcpStream::connect(addr).await.unwrap();
    reading.write_all(REQUEST).await.unwrap();
    let mut read = 0usize;
    let mut buffer = vec![0; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while dropped.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled client was never dropped"
        );
        let n = reading.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the reading client was closed");
        read += n;
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "only the stalled client");
    // The reading client goes on receiving.
    let before = read;
    while read < before + 1024 * 1024 {
        let n = tokio::time::timeout(Duration::from_secs(5), reading.read(&mut buffer))
            .await
            .expect("the reading client still receives")
            .unwrap();
        assert!(n > 0, "the reading client was closed");
        read += n;
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    drop(stalled);
}

/// A client that stops reading an answer small enough for the kernel to take whole (into the
/// server's send buffer) makes no write of ours wait; it is closed all the same once what was
/// sent stays unacknowledged (its window shut) for the limit.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_a_backlog_the_kernel_took_is_dropped() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        write_stall_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    tokio::spawn(aurora_net::serve(
        listener,
        burst(Arc::clone(&dropped)),
        limits,
        None,
        std::future::pending(),
    ));
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /burst HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while dropped.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled client was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(stalled);
}
