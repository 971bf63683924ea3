//! `aurora-web --nats URL --cluster NAME`: the web UI of a cluster served by a process of its
//! own, so dashboards scale out across machines without loading the scheduler. It folds the
//! cluster's JetStream mirror into the same projections the scheduler keeps (idempotent by
//! seq: an event at or before the folded seq is skipped) and serves the same pages, `?at=`
//! included (past views are replayed from the stream).
//!
//! The position is the folded seq: after a NATS hiccup the reader resumes strictly after it.
//! The projections live in memory, so a restarted process folds the stream again from seq 1
//! (the stream keeps everything); pages answer meanwhile, from what is folded so far.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use aurora_events::{Envelope, Seq};
use aurora_projections::{EventSource, HistoryConfig, ReadModel, SourceError};
use aurora_stream::{Reader, SubjectFilter, Until};
use clap::Parser;
use futures::{FutureExt, StreamExt};
use tokio::runtime::Handle;

#[derive(Debug, Parser)]
#[command(
    name = "aurora-web",
    version,
    about = "The aurora web UI, fed from JetStream"
)]
struct Args {
    /// The NATS server(s) holding the cluster's mirror (`aurora-scheduler --nats`).
    #[arg(long, value_name = "URL")]
    nats: String,
    /// The cluster whose stream to follow.
    #[arg(long)]
    cluster: String,
    #[arg(long, default_value_t = 8082)]
    http_port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    http_host: std::net::IpAddr,
}

/// Most envelopes folded at once.
const BATCH: usize = 4096;

/// Past views' events, read back from the stream (on the blocking threads replays run on).
struct StreamSource {
    reader: Reader,
    runtime: Handle,
}

impl std::fmt::Debug for StreamSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSource")
            .field("cluster", &self.reader.cluster())
            .finish()
    }
}

impl EventSource for StreamSource {
    fn read(&self, from: Seq, to: Seq) -> Result<Vec<Envelope>, SourceError> {
        if from > to {
            return Ok(Vec::new());
        }
        let envelopes: Vec<Envelope> = self
            .runtime
            .block_on(
                self.reader
                    .envelopes(SubjectFilter::default(), from - 1, Until::Through(to))
                    .collect::<Vec<_>>(),
            )
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| SourceError::new(format!("reading seqs {from}..={to}: {e}")))?;
        if envelopes.len() as u64 != to - from + 1 {
            return Err(SourceError::new(format!(
                "the stream returned {} events for seqs {from}..={to}",
                envelopes.len()
            )));
        }
        Ok(envelopes)
    }
}

/// Folds the stream into `read` forever, strictly after what it holds.
async fn follow(reader: Reader, read: Arc<ReadModel>) {
    loop {
        let after = read.last_seq();
        let mut envelopes = reader.envelopes(SubjectFilter::default(), after, Until::Forever);
        while let Some(first) = envelopes.next().await {
            let mut batch = Vec::new();
            let mut failed = None;
            match first {
                Ok(envelope) => batch.push(envelope),
                Err(e) => failed = Some(e),
            }
            // Whatever else is already there goes into the same fold.
            while failed.is_none() && batch.len() < BATCH {
                match envelopes.next().now_or_never() {
                    Some(Some(Ok(envelope))) => batch.push(envelope),
                    Some(Some(Err(e))) => failed = Some(e),
                    Some(None) | None => break,
                }
            }
            if !batch.is_empty() {
                read.apply(&batch);
            }
            if let Some(error) = failed {
                tracing::warn!(%error, after = read.last_seq(), "the stream read failed; resuming");
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let reader = Reader::connect(&args.nats, &args.cluster)
        .await
        .with_context(|| format!("following cluster {}'s stream", args.cluster))?;
    let (last, _) = reader
        .extent()
        .await
        .with_context(|| format!("reading cluster {}'s stream", args.cluster))?;
    let read = Arc::new(ReadModel::with_shared_source(
        Arc::new(StreamSource {
            reader: reader.clone(),
            runtime: Handle::current(),
        }),
        HistoryConfig::default(),
    ));
    tokio::spawn(follow(reader, Arc::clone(&read)));
    let app = aurora_web::app(aurora_web::WebState {
        cluster: args.cluster.clone(),
        read,
    });
    let addr = SocketAddr::new(args.http_host, args.http_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!(
        "aurora-web serving cluster {} from {} (stream {}, {last} events to fold)",
        args.cluster,
        args.nats,
        aurora_stream::subject::stream_name(&args.cluster)
    );
    println!("  web UI: http://{addr}/scheduler");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(())
}
