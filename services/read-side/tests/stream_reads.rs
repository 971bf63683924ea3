//! `aurora-web` against a real nats-server and a stream filled here: a hole in the stream
//! stalls it before the hole and turns `/health` into a 503 naming the missing seq; NATS out of
//! reach does the same past the grace; the journal reads answer from what it folded; and every
//! other `/api/v1` path answers a JSON 404.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use aurora_events::{Actor, ChainHash, Envelope, Event, EventId, Identifier, Seq, Timestamp};
use aurora_stream::testing::NatsServer;

const CLUSTER: &str = "c";

fn envelope(seq: Seq) -> Envelope {
    Envelope {
        seq,
        id: EventId(aurora_events::Uuid::from_u128(u128::from(seq))),
        at: Timestamp::from_millis(1_700_000_000_000 + seq as i64 * 1000),
        actor: Actor::User(format!("user{seq}")),
        cause: None,
        event: Event::QuotaSet {
            role: Identifier::new("www").unwrap(),
            quota: Default::default(),
        },
        prev_hash: None,
    }
}

/// The cluster's stream, as the scheduler's mirror creates it.
async fn stream(url: &str) -> (jetstream::Context, jetstream::stream::Stream) {
    let client = async_nats::connect(url).await.unwrap();
    let context = jetstream::new(client);
    let stream = context
        .get_or_create_stream(aurora_stream::mirror::stream_config(CLUSTER))
        .await
        .unwrap();
    (context, stream)
}

/// Publishes `seqs` in order, each acknowledged at its own stream sequence.
async fn publish(context: &jetstream::Context, seqs: std::ops::RangeInclusive<Seq>) {
    for seq in seqs {
        let envelope = envelope(seq);
        let ack = context
            .publish(
                aurora_stream::subject::subject(CLUSTER, &envelope.event),
                aurora_stream::wire::encode(CLUSTER, &envelope).into(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(ack.sequence, seq, "the stream is dense");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running aurora-web, killed when dropped; its log goes to `log`.
struct Web {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Web {
    fn start(nats: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("aurora-web.log");
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_aurora-web"))
            .args(["--nats", nats, "--cluster", CLUSTER, "--insecure-no-auth"])
            .args(["--http-port", &port.to_string()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Its first line comes once it listens.
        let mut banner = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut banner).unwrap();
        assert!(banner.contains("aurora-web serving cluster c"), "{banner}");
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// One request: status, content type and body.
    fn request(&self, method: &str, path: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let content_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type:")
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default();
        (status, content_type, body.to_string())
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        self.request("GET", path)
    }

    fn json(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, content_type, body) = self.get(path);
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {status} {content_type} {body}"
        );
        (status, serde_json::from_str(&body).unwrap())
    }

    fn folded(&self) -> u64 {
        self.json("/api/v1/journal").1["last_seq"].as_u64().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_hole_in_the_stream_stalls_the_read_side_before_it_and_fails_health() {
    let nats = NatsServer::start().expect("nats-server (./ops/test installs it)");
    let runtime = runtime();
    let (context, stream) = runtime.block_on(stream(&nats.url()));
    runtime.block_on(publish(&context, 1..=30));
    // A message deleted from the middle: the stream goes on at 11 after 9.
    assert!(runtime.block_on(stream.delete_message(10)).unwrap());

    let web = Web::start(&nats.url());
    let mut health = (0, String::new(), String::new());
    wait_for(
        "/health to report the hole",
        Duration::from_secs(20),
        || {
            health = web.get("/health");
            // (A 503 saying it is still starting may come first.)
            health.0 == 503 && health.2.starts_with("STALLED")
        },
    );
    let body = &health.2;
    assert!(body.contains("seq 10 is missing"), "{body}");
    assert!(body.contains("stalled at seq 9"), "{body}");
    assert!(
        body.contains("aurora-admin journal verify c --against-stream"),
        "{body}"
    );
    // The log names the missing seq and what to do, once.
    let log = web.log();
    assert!(log.contains("ERROR"), "{log}");
    assert!(
        log.contains("seq 10 is missing from stream AURORA_c"),
        "{log}"
    );
    assert!(log.contains("--against-stream"), "{log}");

    // Nothing past the hole is applied, now or after more events arrive.
    runtime.block_on(publish(&context, 31..=40));
    std::thread::sleep(Duration::from_secs(2));
    let (_, info) = web.json("/api/v1/journal");
    assert_eq!(info["last_seq"], 9, "{info}");
    assert!(
        info["problem"]
            .as_str()
            .unwrap()
            .contains("seq 10 is missing"),
        "{info}"
    );
    let (_, page) = web.json("/api/v1/events?from=1&limit=1000");
    let seqs: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
    let (_, audit) = web.json("/api/v1/audit");
    assert!(!audit.to_string().contains("user11"), "{audit}");
    // Every page says it is stalled.
    let (status, _, html) = web.get("/scheduler");
    assert_eq!(status, 200);
    assert!(html.contains("stalled at seq 9"), "{html}");
    assert_eq!(
        web.log().matches("seq 10 is missing from stream").count(),
        1,
        "the hole is logged once, not at every look"
    );
}

#[test]
fn nats_out_of_reach_past_the_grace_fails_health_until_it_is_back() {
    let mut nats = NatsServer::start().expect("nats-server (./ops/test installs it)");
    let runtime = runtime();
    let (context, _stream) = runtime.block_on(stream(&nats.url()));
    runtime.block_on(publish(&context, 1..=5));
    let web = Web::start(&nats.url());
    wait_for("seq 5 folded", Duration::from_secs(20), || {
        web.folded() == 5
    });
    // Ready once the watcher has seen the stream end at seq 5 (it polls every second).
    wait_for("/health 200", Duration::from_secs(20), || {
        web.get("/health").0 == 200
    });

    nats.stop();
    let mut health = (0, String::new(), String::new());
    wait_for(
        "/health to say NATS is gone",
        Duration::from_secs(30),
        || {
            health = web.get("/health");
            health.0 == 503
        },
    );
    assert!(health.2.contains("cannot reach NATS"), "{}", health.2);
    assert!(health.2.contains("The views are at seq 5"), "{}", health.2);
    let (_, _, html) = web.get("/scheduler");
    assert!(html.contains("stale since"), "{html}");

    nats.resume().unwrap();
    wait_for("/health to recover", Duration::from_secs(30), || {
        web.get("/health").0 == 200
    });
}

#[test]
fn journal_reads_answer_from_what_is_folded_and_other_api_paths_a_json_404() {
    let nats = NatsServer::start().expect("nats-server (./ops/test installs it)");
    let runtime = runtime();
    let (context, _stream) = runtime.block_on(stream(&nats.url()));
    runtime.block_on(publish(&context, 1..=20));
    let web = Web::start(&nats.url());
    wait_for("seq 20 folded", Duration::from_secs(20), || {
        web.folded() == 20
    });

    let (status, info) = web.json("/api/v1/journal");
    assert_eq!((status, info["cluster"].as_str()), (200, Some(CLUSTER)));
    let (status, page) = web.json("/api/v1/events?from=5&limit=3");
    assert_eq!(status, 200);
    assert_eq!(page["last_seq"], 20);
    let events: Vec<Envelope> = serde_json::from_value(page["events"].clone()).unwrap();
    assert_eq!(events, (5..=7).map(envelope).collect::<Vec<_>>());
    let (status, _) = web.json("/api/v1/events?limit=5000");
    assert_eq!(status, 400);

    let (status, head) = web.json("/api/v1/journal/head");
    assert_eq!(status, 200);
    assert_eq!(head["seq"], 20);
    assert_eq!(
        head["hash"],
        serde_json::to_value(ChainHash::of(&envelope(20))).unwrap()
    );
    let (status, at) = web.json("/api/v1/journal/seq?at_ms=1700000007500");
    assert_eq!((status, at["seq"].as_u64()), (200, Some(7)));

    // The server-sent stream: what is folded after `after`, then what is folded next.
    let mut sse = TcpStream::connect(("127.0.0.1", web.port)).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        sse,
        "GET /api/v1/events/stream?after=17 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(sse).lines();
    let mut next_id = || loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(id) = line.strip_prefix("id:") {
            return id.trim().parse::<u64>().unwrap();
        }
    };
    assert_eq!([next_id(), next_id(), next_id()], [18, 19, 20]);
    runtime.block_on(publish(&context, 21..=21));
    assert_eq!(next_id(), 21, "live events follow");

    // The read API is still served; anything else under /api/v1 is a JSON 404.
    let (status, _) = web.json("/api/v1/jobs");
    assert_eq!(status, 200);
    for path in [
        "/api/v1/cron",
        "/api/v1/journal/verify",
        "/api/v1/no/such/thing",
        "/api/v1/jobs/www/prod",
        "/api/v1",
    ] {
        let (status, body) = web.json(path);
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["code"], "NOT_FOUND", "{path}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("aurora-web") && message.contains(path),
            "{path}: {message}"
        );
    }
    // Pages outside the API keep their HTML 404.
    let (status, content_type, _) = web.get("/no/such/page");
    assert_eq!(status, 404);
    assert!(content_type.starts_with("text/html"), "{content_type}");
}
