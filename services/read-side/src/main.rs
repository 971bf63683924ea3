//! `aurora-web --nats URL --cluster NAME`: the web UI and the read API (`/api/v1/...` reads,
//! as the scheduler answers them) of a cluster, served by a process of its own, so dashboards
//! and scripts scale out across machines without loading the scheduler. It folds the
//! cluster's JetStream mirror into the same projections the scheduler keeps (idempotent by
//! seq: an event at or before the folded seq is skipped) and serves the same pages, `?at=`
//! included (past views are replayed from the stream).
//!
//! The position is the folded seq: after a NATS hiccup the reader resumes strictly after it.
//! With `--state-dir DIR` the events folded are kept in a local log (`local_log.rs`) before
//! they are folded, so a restarted process folds its own copy and resumes the stream strictly
//! after it; a copy that no longer matches the stream (a re-initialised cluster) is dropped and
//! the stream folded again. Without it the projections live in memory only, and a restarted
//! process folds the stream again from seq 1 (the stream keeps everything). Pages answer
//! meanwhile, from what is folded so far.
//!
//! The stream's seqs are dense (stream seq = journal seq), and the views fold in seq order: a
//! hole (a message deleted from the stream) stops the folds before it, and `/health` answers
//! 503 naming it, as it does while NATS is out of reach (`status.rs`). The journal reads
//! (`/api/v1/journal...`, `/api/v1/events...`) answer from what is folded (`journal_api.rs`).

/// mimalloc rather than the system allocator: with many small allocations per event (envelopes,
/// entries, projections) glibc's malloc took a fifth of the replicated journal's CPU, and
/// appends/s at 256 appenders rose by 18 % with it (`ops/bench-journal --replicas 3`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod journal_api;
mod local_log;
mod status;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use aurora_events::{Envelope, Seq};
use aurora_projections::{EventSource, HistoryConfig, ReadModel, SharedSource, SourceError};
use aurora_stream::{Reader, SubjectFilter, Until};
use clap::Parser;
use futures::{FutureExt, StreamExt};
use tokio::runtime::Handle;

use local_log::LocalLog;
use status::Freshness;

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
    /// Keep the folded events here (`<cluster>.events`), so that a restart resumes rather than
    /// folding the whole stream again.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<std::path::PathBuf>,
    /// The scheduler's auth file (see the README's "Authentication"): with
    /// `anonymous_read = false`, reads here need credentials too. Reloaded on SIGHUP.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure_no_auth")]
    auth: Option<std::path::PathBuf>,
    /// Serve every read to anyone without checking credentials (the UI says so). Without it or
    /// --auth, aurora-web refuses to start.
    #[arg(long)]
    insecure_no_auth: bool,
    /// HTTPS: the certificate and key to serve, and the CA whose client certificates to
    /// require (if any).
    #[command(flatten)]
    tls: aurora_net::ServerTlsArgs,
    /// The zone the cluster's cron schedules are read in (the scheduler's --cron-timezone),
    /// for the next runs the /cron page shows.
    #[arg(long, default_value = "GMT", value_parser = aurora_web::cron_timezone)]
    cron_timezone: jiff::tz::TimeZone,
}

/// Most envelopes folded at once.
const BATCH: usize = 4096;

/// How long the follower waits before reading the stream again after finding a hole in it: a
/// hole does not fill by itself, but an operator may mirror the stream again.
const HOLE_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

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

/// The local log, shared by the follower (which appends) and past views (which read).
struct LocalSource(Mutex<LocalLog>);

impl LocalSource {
    fn log(&self) -> std::sync::MutexGuard<'_, LocalLog> {
        // A panic mid-append leaves at worst a torn tail, which the next open cuts off.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for LocalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSource")
            .field("path", &self.log().path())
            .finish()
    }
}

impl EventSource for LocalSource {
    fn read(&self, from: Seq, to: Seq) -> Result<Vec<Envelope>, SourceError> {
        self.log()
            .read(from, to)
            .map_err(|e| SourceError::new(format!("{e:#}")))
    }
}

/// Opens the local log and checks that it is a copy of the stream there now: its last event
/// must be the stream's event at that seq. A copy that is not is emptied (with a warning).
async fn open_local(dir: &std::path::Path, reader: &Reader) -> anyhow::Result<LocalLog> {
    let (mut log, opened) = LocalLog::open(dir, reader.cluster())?;
    if opened.cut_bytes > 0 {
        tracing::warn!(
            path = %log.path().display(),
            bytes = opened.cut_bytes,
            kept = log.last_seq(),
            "cut a damaged tail off the local log; the stream supplies the rest"
        );
    }
    let last = log.last_seq();
    if last == 0 {
        return Ok(log);
    }
    let ours = log.read(last, last)?;
    let theirs: Vec<Envelope> = reader
        .envelopes(SubjectFilter::default(), last - 1, Until::Through(last))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading seq {last} from the stream"))?;
    if ours != theirs {
        tracing::warn!(
            path = %log.path().display(),
            seq = last,
            "the local log is not a copy of this stream (its seq {last} differs or is \
             missing); folding the stream again"
        );
        log.clear()?;
    }
    Ok(log)
}

/// Folds the local log into `read`, a batch at a time.
fn fold_local(local: &LocalSource, read: &ReadModel) -> anyhow::Result<()> {
    let last = local.log().last_seq();
    let mut next = 1;
    while next <= last {
        let to = (next + BATCH as u64 - 1).min(last);
        let batch = local.log().read(next, to)?;
        read.apply(&batch);
        next = to + 1;
    }
    Ok(())
}

/// How many of `batch` follow on from `last` without a hole.
fn dense_prefix(last: Seq, batch: &[Envelope]) -> usize {
    batch
        .iter()
        .zip(last + 1..)
        .take_while(|(envelope, seq)| envelope.seq == *seq)
        .count()
}

/// Folds the stream into `read` forever, strictly after what it holds, keeping each batch in
/// `local` (when there is one) before folding it. Stops before a hole in the stream (the views
/// fold in seq order; folding past it would leave them wrong for good) and reports it to
/// `freshness`, then looks again now and then.
async fn follow(
    reader: Reader,
    read: Arc<ReadModel>,
    local: Option<Arc<LocalSource>>,
    freshness: Arc<Freshness>,
) {
    loop {
        let after = read.last_seq();
        let mut envelopes = reader.envelopes(SubjectFilter::default(), after, Until::Forever);
        let mut pause = std::time::Duration::from_millis(500);
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
            let dense = dense_prefix(read.last_seq(), &batch);
            let hole = batch.get(dense).map(|envelope| envelope.seq);
            batch.truncate(dense);
            if !batch.is_empty() {
                if let Some(local) = &local {
                    if let Err(error) = local.log().append(&batch) {
                        // Folding past the copy would break the restart's position: wait.
                        tracing::error!(error = %format!("{error:#}"), "keeping events failed; retrying");
                        break;
                    }
                }
                read.apply(&batch);
                freshness.progressed();
            }
            if let Some(next) = hole {
                freshness.stalled(read.last_seq() + 1, next);
                pause = HOLE_RETRY;
                break;
            }
            if let Some(error) = failed {
                tracing::warn!(%error, after = read.last_seq(), "the stream read failed; resuming");
                break;
            }
        }
        // Dropping the reader's stream stops its consumer before the next one starts.
        drop(envelopes);
        tokio::time::sleep(pause).await;
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
    let gate = match (&args.auth, args.insecure_no_auth) {
        (Some(path), _) => {
            let config = aurora_auth::AuthConfig::load(path)?;
            let gate = aurora_web::gate::Gate::enforced(config, Some(path.clone()));
            gate.reload_on_hangup();
            gate
        }
        (None, true) => aurora_web::gate::Gate::insecure(),
        (None, false) => anyhow::bail!(
            "refusing to serve without authentication: give --auth FILE (the scheduler's auth \
             file) or, on a trusted network, --insecure-no-auth"
        ),
    };
    let reader = Reader::connect(&args.nats, &args.cluster)
        .await
        .with_context(|| format!("following cluster {}'s stream", args.cluster))?;
    let (last, _) = reader
        .extent()
        .await
        .with_context(|| format!("reading cluster {}'s stream", args.cluster))?;
    let local = match &args.state_dir {
        Some(dir) => Some(Arc::new(LocalSource(Mutex::new(
            open_local(dir, &reader)
                .await
                .with_context(|| format!("opening the local log in {}", dir.display()))?,
        )))),
        None => None,
    };
    let source: SharedSource = match &local {
        Some(local) => Arc::clone(local) as SharedSource,
        None => Arc::new(StreamSource {
            reader: reader.clone(),
            runtime: Handle::current(),
        }),
    };
    let read = Arc::new(ReadModel::with_shared_source(
        source,
        HistoryConfig::default(),
    ));
    let resumed = match &local {
        Some(local) => {
            let (local, folding) = (Arc::clone(local), Arc::clone(&read));
            tokio::task::spawn_blocking(move || fold_local(&local, &folding))
                .await
                .context("folding the local log")??;
            Some(read.last_seq())
        }
        None => None,
    };
    let freshness = Arc::new(Freshness::new(&args.cluster, &args.nats, Arc::clone(&read)));
    read.set_served_by(Arc::clone(&freshness) as Arc<dyn aurora_projections::ServedBy>);
    tokio::spawn(status::watch(reader.clone(), Arc::clone(&freshness)));
    tokio::spawn(follow(
        reader,
        Arc::clone(&read),
        local,
        Arc::clone(&freshness),
    ));
    let app = aurora_web::app(aurora_web::WebState {
        cluster: args.cluster.clone(),
        read: Arc::clone(&read),
        warning: gate.is_insecure().then(|| {
            "This read side runs without authentication (--insecure-no-auth): anyone who can \
             reach it can read the cluster's whole history."
                .to_string()
        }),
        cron_zone: args.cron_timezone.clone(),
        // (The scheduler's setting is not in the stream: its default.)
        executor_overhead: aurora_web::DEFAULT_EXECUTOR_OVERHEAD,
    })
    .merge(aurora_web::api::router(Arc::clone(&read)))
    .merge(journal_api::router(
        &args.cluster,
        read,
        Arc::clone(&freshness),
    ))
    .layer(axum::middleware::from_fn_with_state(
        freshness,
        status::health,
    ));
    let app = aurora_web::gate::guard(app, gate);
    let tls = args
        .tls
        .load()
        .context("--tls-cert, --tls-key, --tls-client-ca")?;
    if let Some(tls) = &tls {
        tls.reload_on_hangup("aurora-web");
    }
    let addr = SocketAddr::new(args.http_host, args.http_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let position = match resumed {
        Some(seq) => format!("resumed from local seq {seq}, stream at {last}"),
        None => format!("{last} events to fold"),
    };
    // Whoever started us may have stopped reading: a closed stdout is no reason to stop serving.
    let _ = writeln!(
        std::io::stdout(),
        "aurora-web serving cluster {} from {} (stream {}, {position})\n  web UI: {}://{addr}/scheduler",
        args.cluster,
        args.nats,
        aurora_stream::subject::stream_name(&args.cluster),
        args.tls.scheme()
    );
    aurora_net::serve(
        listener,
        app,
        aurora_net::Limits::default(),
        tls,
        aurora_net::signals::shutdown_signal(),
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_events::{Event, Identifier, samples};

    fn envelope(seq: Seq) -> Envelope {
        let role = Identifier::new("www").unwrap();
        samples::envelope(
            seq,
            Event::QuotaSet {
                role,
                quota: Default::default(),
            },
        )
    }

    #[test]
    fn the_dense_prefix_stops_at_a_hole() {
        let batch: Vec<Envelope> = [10, 11, 13, 14].into_iter().map(envelope).collect();
        assert_eq!(dense_prefix(9, &batch), 2);
        assert_eq!(dense_prefix(8, &batch), 0, "seq 9 itself is missing");
        assert_eq!(dense_prefix(9, &batch[..2]), 2);
        assert_eq!(dense_prefix(0, &[]), 0);
    }
}
