//! Kill -9 a process that is appending to the RocksDB journal, many times, at random moments;
//! after each kill, reopen the journal and check that every acknowledged append is there,
//! intact, in a gap-free sequence, and that no batch is visible only in part.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aurora_journal::conformance::{assert_dense, read_marker};
use aurora_journal::{Journal, RocksJournal, SeqRange};
use aurora_system_tests::{BATCH_STRIDE, crash_batch_size};
use rand::{Rng, SeedableRng};

const KILLS: u32 = 24;
const WRITERS_PER_RUN: u32 = 8;

#[derive(Debug, Clone, Copy)]
struct Ack {
    first: u64,
    last: u64,
    writer: u32,
    batch: u32,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut parts = line.strip_prefix("ACK ")?.split(' ');
    let ack = Ack {
        first: parts.next()?.parse().ok()?,
        last: parts.next()?.parse().ok()?,
        writer: parts.next()?.parse().ok()?,
        batch: parts.next()?.parse().ok()?,
    };
    parts.next().is_none().then_some(ack)
}

/// Starts the child, lets it append for `run_for`, kills it with SIGKILL, and returns the
/// appends it acknowledged.
fn run_and_kill(dir: &std::path::Path, first_writer: u32, run_for: Duration) -> Vec<Ack> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_journal-crash-child"))
        .arg(dir)
        .arg(first_writer.to_string())
        .arg(WRITERS_PER_RUN.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the crash child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("READY") {
                let _ = ready_tx.send(());
            } else if let Some(ack) = parse_ack(&line) {
                acks.push(ack);
            }
            // A line cut short by the kill parses as nothing: that ack is simply not checked.
        }
        acks
    });
    // Count the run from when the journal is open, so that every run really appends.
    if ready_rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        panic!("the crash child did not open the journal within 30 s");
    }
    std::thread::sleep(run_for);
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    reader.join().expect("stdout reader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("journal");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xA0_2026);
    let started = Instant::now();
    let mut total_acks = 0usize;

    for kill in 0..KILLS {
        let run_for = Duration::from_millis(rng.random_range(5..250));
        let first_writer = kill * 100;
        let acks = run_and_kill(&path, first_writer, run_for);
        total_acks += acks.len();

        let journal = RocksJournal::open(&path).expect("reopen after kill -9");
        let last = journal.last_seq();
        // Reading checks every record's checksum and that seqs are gap-free.
        let all = journal
            .read(SeqRange::new(1, last))
            .await
            .expect("every record intact");
        assert_eq!(
            all.len() as u64,
            last,
            "kill {kill}: seqs 1..={last} all present"
        );
        eprintln!(
            "kill {kill}: journal ends at seq {last}, {} acks to check",
            acks.len()
        );
        assert_dense(&all);

        // Every acknowledged append is exactly where the child was told it is.
        for ack in &acks {
            let size = crash_batch_size(ack.writer, ack.batch);
            assert_eq!(
                ack.last - ack.first + 1,
                u64::from(size),
                "kill {kill}: {ack:?}"
            );
            for (i, seq) in (ack.first..=ack.last).enumerate() {
                let envelope = all.get((seq - 1) as usize).unwrap_or_else(|| {
                    panic!(
                        "kill {kill}: acknowledged seq {seq} is missing (journal ends at {last})"
                    )
                });
                let expected = (ack.writer, ack.batch * BATCH_STRIDE + i as u32);
                assert_eq!(
                    read_marker(envelope),
                    Some(expected),
                    "kill {kill}: acked seq {seq}"
                );
            }
        }

        // No torn batch: every batch that is visible at all is visible whole and contiguous,
        // acknowledged or not.
        let mut batches: BTreeMap<(u32, u32), Vec<(u64, u32)>> = BTreeMap::new();
        for envelope in &all[1..] {
            let (writer, n) = read_marker(envelope).expect("only marker events after seq 1");
            batches
                .entry((writer, n / BATCH_STRIDE))
                .or_default()
                .push((envelope.seq, n % BATCH_STRIDE));
        }
        for ((writer, batch), members) in &batches {
            let size = crash_batch_size(*writer, *batch);
            let positions: Vec<u32> = members.iter().map(|(_, i)| *i).collect();
            assert_eq!(
                positions,
                (0..size).collect::<Vec<_>>(),
                "kill {kill}: batch {batch} of writer {writer}"
            );
            let seqs: Vec<u64> = members.iter().map(|(seq, _)| *seq).collect();
            assert_eq!(
                seqs.last().unwrap() - seqs[0] + 1,
                u64::from(size),
                "kill {kill}: batch contiguous"
            );
        }
        // And each writer's batches are a prefix 0..k: nothing acknowledged later went missing.
        for writer in first_writer..first_writer + WRITERS_PER_RUN {
            let seen: Vec<u32> = batches
                .keys()
                .filter(|(w, _)| *w == writer)
                .map(|(_, b)| *b)
                .collect();
            assert_eq!(
                seen,
                (0..seen.len() as u32).collect::<Vec<_>>(),
                "kill {kill}: writer {writer}"
            );
        }
        drop(journal);
    }
    assert!(
        total_acks > KILLS as usize,
        "the children must have appended ({total_acks} acks)"
    );
    eprintln!(
        "{KILLS} kills, {total_acks} acknowledged appends checked in {:?}",
        started.elapsed()
    );
}
