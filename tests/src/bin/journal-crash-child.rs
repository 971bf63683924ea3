//! Appends to a RocksDB journal as fast as it can from several concurrent writers and prints one
//! line per acknowledged append — `ACK <first> <last> <writer> <batch>` — until it is killed.
//!
//! Usage: journal-crash-child <journal dir> <first writer id> <writers>

use std::io::Write;

use anyhow::Context;
use aurora_journal::conformance::{append, marker, now};
use aurora_journal::{Journal, RocksJournal};
use aurora_system_tests::{BATCH_STRIDE, crash_batch_size};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, first_writer, writers] = args.as_slice() else {
        anyhow::bail!("usage: journal-crash-child <journal dir> <first writer id> <writers>");
    };
    let first_writer: u32 = first_writer.parse().context("first writer id")?;
    let writers: u32 = writers.parse().context("writers")?;
    let journal = RocksJournal::open_or_initialise(dir, "crash", now())?;
    println!("READY {}", journal.last_seq());

    let mut tasks = Vec::new();
    for writer in first_writer..first_writer + writers {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0.. {
                let size = crash_batch_size(writer, batch);
                let events = (0..size)
                    .map(|i| marker(writer, batch * BATCH_STRIDE + i))
                    .collect();
                let range = append(&journal, events).await?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "ACK {} {} {writer} {batch}", range.first, range.last)?;
                out.flush()?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}
