//! `aurora events tail --source nats` against a real nats-server holding a cluster's mirror:
//! a stream with a hole (a deleted message) is refused, naming the seq, instead of being read
//! past; a `--from` past the last event (up to the last possible seq) is refused naming the
//! last one, without panicking.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_events::{Envelope, Seq, samples};
use aurora_stream::mirror::{self, MirrorConfig, MirrorStatus};
use aurora_stream::testing::{FixedSource, NatsServer};
use support::{Cli, code, stderr, stdout};

/// Publishes seqs 1..=12 of cluster `devcluster` into `nats` and deletes seq 10.
fn mirror_with_a_hole(nats: &NatsServer) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let envelopes: Vec<Envelope> = samples::events()
        .into_iter()
        .take(12)
        .zip(1..)
        .map(|(event, seq)| samples::envelope(seq, event))
        .collect();
    let status = Arc::new(MirrorStatus::default());
    let publisher = runtime.spawn(mirror::run(
        MirrorConfig::new(nats.url(), "devcluster"),
        Arc::new(FixedSource(envelopes)),
        Arc::clone(&status),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while status.published() < 12 {
        assert!(
            Instant::now() < deadline,
            "the mirror published {}",
            status.published()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    publisher.abort();
    runtime.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let stream = async_nats::jetstream::new(client)
            .get_stream("AURORA_devcluster")
            .await
            .unwrap();
        assert!(stream.delete_message(10).await.unwrap());
    });
}

#[test]
fn a_hole_in_the_stream_is_named_not_skipped() {
    let nats = NatsServer::start().expect("nats-server");
    mirror_with_a_hole(&nats);
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_aurora")).parent().unwrap();
    let cli = Cli::new(bin_dir, dir.path(), 1);
    let url = nats.url();
    let tail = |extra: &[&str]| {
        let mut args = vec!["events", "tail", "--source", "nats", "--nats", &url];
        args.extend_from_slice(extra);
        cli.aurora(&args)
    };

    for args in [
        &["devcluster", "--from", "0"][..],
        &["devcluster", "--from", "9"],
        // A filtered consumer never sees seq 10's subject, hole or not: still refused.
        &["devcluster/nobody", "--from", "0"],
    ] {
        let refused = tail(args);
        assert_eq!(code(&refused), Some(4), "{args:?}");
        let message = stderr(&refused);
        assert!(message.contains("lacks seq 10 "), "{message}");
        assert!(
            message.contains("aurora-admin journal verify devcluster --against-stream"),
            "{message}"
        );
        assert_eq!(
            stdout(&refused),
            "",
            "nothing printed past a hole: {args:?}"
        );
    }

    // Past the hole, the stream is whole again.
    let after = tail(&["devcluster", "--from", "10"]);
    assert_eq!(code(&after), Some(0));
    let printed = stdout(&after);
    let seqs: Vec<&str> = printed
        .lines()
        .map(|line| line.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(seqs, ["11", "12"], "{printed}");

    // A seq past the last event (a typo would skip every event up to it): refused, naming
    // the stream's last (no scheduler answers here to name the journal's), without overflow.
    for beyond in ["13".to_string(), Seq::MAX.to_string()] {
        let refused = tail(&["devcluster", "--from", &beyond]);
        assert_eq!(code(&refused), Some(6), "{}", stderr(&refused));
        assert_eq!(stdout(&refused), "");
        assert!(
            stderr(&refused).contains(&format!(
                "--from {beyond} is after the last event in the stream (seq 12)"
            )),
            "{}",
            stderr(&refused)
        );
        assert!(!stderr(&refused).contains("panicked"));
    }
}
