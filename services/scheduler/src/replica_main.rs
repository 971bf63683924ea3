//! `aurora-scheduler --replica-id N --peers ...`: one replica of a replicated cluster.
//!
//! The order matters: the replica's HTTP port must answer Raft RPCs before this replica can
//! take part in an election or receive the journal, so the server starts first with only the
//! Raft routes (everything else answers 503 "starting"); once the cluster's journal is here
//! (initialised by this replica with `--init`, or replicated from the others), the runtime
//! starts as a follower and the API and the UI are mounted behind the same port.
//!
//! `--init` says this replica founds a new cluster: every replica of a new cluster is started
//! with it the first time, as each of Apache Aurora's replicated logs is initialised. A
//! directory created without it belongs to a replica joining a cluster that has a history (or
//! rejoining after losing its data), which does not vote until it has that history again (see
//! `aurora_raft::Origin`): voting at once could elect a leader that lacks acknowledged writes.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use aurora_journal::{Clock, Error as JournalError, Journal};
use aurora_raft::{Compaction, Origin, RaftJournal, Replica, Storage, Timeouts};
use aurora_scheduler::replicated::{self, Group};
use aurora_scheduler::runtime::{Runtime, RuntimeConfig, StartAs};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use crate::Args;

/// Timeouts for replicas on separate processes: a loaded machine must not mistake a slow
/// heartbeat for a dead leader, and a takeover still completes within a couple of seconds.
fn timeouts() -> Timeouts {
    Timeouts {
        heartbeat: Duration::from_millis(100),
        election: (Duration::from_millis(700), Duration::from_millis(1_400)),
        append: Duration::from_secs(10),
        claim: Duration::from_secs(10),
    }
}

pub(crate) async fn run(
    args: &Args,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let peers = replicated::parse_peers(args.peers.as_deref().unwrap_or_default())
        .map_err(|e| anyhow::anyhow!("--peers: {e}"))?;
    let Some(id) = args.replica_id else {
        bail!("--peers needs --replica-id N (this replica's id among the peers)");
    };
    if !peers.contains_key(&id) {
        bail!(
            "--replica-id {id} is not among --peers ({}); list every replica, this one included",
            peers
                .keys()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let Some(cluster) = args.cluster.clone() else {
        bail!("--peers needs --cluster NAME: replicas check that they belong to the same cluster");
    };
    // Behind a port mapping the two may differ on purpose; more often it is a typo that leaves
    // the other replicas knocking on the wrong port.
    let own = reqwest::Url::parse(&peers[&id]).ok();
    if let Some(port) = own.as_ref().and_then(reqwest::Url::port_or_known_default)
        && port != args.http_port
    {
        tracing::warn!(
            replica = id,
            "--peers gives this replica's URL as {}, but it listens on port {}: the other \
             replicas reach it only if that URL leads here",
            peers[&id],
            args.http_port
        );
    }

    let gate = args.gate()?.gate;
    let secret = replication_secret(args)?;
    let tls = args
        .tls
        .load()
        .context("--tls-cert, --tls-key, --tls-client-ca")?;
    let client_tls = args.client_tls()?;
    let network = aurora_raft::Router::https(
        &cluster,
        peers.clone(),
        Duration::from_secs(2),
        secret.as_deref(),
        &client_tls,
    );
    let survey = network.survey_peers(id).await;
    for (peer, why) in &survey.refusals {
        tracing::error!(replica = id, peer, "replica {peer} refuses this one: {why}");
    }
    if !survey.refusals.is_empty() && survey.answered.is_empty() {
        // Every peer that answered refused: this replica's --cluster or --replication-secret
        // is not the others'. Running on, it could never vote or be sent an entry, and would
        // say so only as "unreachable" peers in openraft's logs.
        let (peer, why) = &survey.refusals[0];
        bail!(
            "every replica that answered refuses this one (replica {peer}: {why}): check \
             --cluster ({cluster}) and --replication-secret against the other replicas'"
        );
    }
    let origin = match (args.init, survey.holder) {
        (false, _) => Origin::Joining,
        (true, None) => Origin::Founding,
        // A replica given --init after the others initialised the cluster (a late first
        // start, or a supervisor that always passes it, after this one lost its data) joins
        // what exists rather than found it: founding, it would vote before it holds the
        // history it may have acknowledged before.
        (true, Some(holder)) => {
            tracing::warn!(
                replica = id,
                holder,
                "--init given, but replica {holder} already holds cluster {cluster}'s \
                 journal: a directory created here joins the cluster (it votes once it has \
                 received the history)"
            );
            Origin::Joining
        }
    };
    let storage = Storage::open(&args.data_dir, id, origin)
        .with_context(|| format!("opening replica {id}'s data in {}", args.data_dir.display()))?
        .compacting(Compaction {
            snapshot_every: args.raft_snapshot_every,
            keep: args.raft_log_keep,
        });
    if let Some(journal) = storage.journal()
        && journal.cluster() != cluster
    {
        bail!(
            "{} holds cluster {}'s journal, not {cluster}'s: check --cluster and --data-dir",
            args.data_dir.display(),
            journal.cluster()
        );
    }
    let replica = Replica::start(id, &storage, &network, timeouts())
        .await
        .with_context(|| format!("starting replica {id}"))?;
    drop(storage);

    let addr = SocketAddr::new(args.http_host, args.http_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let ready: Arc<OnceLock<axum::Router>> = Arc::new(OnceLock::new());
    let app = {
        let ready = Arc::clone(&ready);
        aurora_raft::http::routes_with_secret(&replica, &cluster, secret.as_deref())
            .fallback(move |request: Request| until_ready(Arc::clone(&ready), id, request))
    };
    let (stop, mut stopping) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(aurora_scheduler::serve::serve(
        listener,
        app,
        args.limits(),
        tls,
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        },
    ));
    println!(
        "aurora-scheduler replica {id} of cluster {cluster} on {}://{addr}",
        args.tls.scheme()
    );
    println!("  tls: {}", crate::tls_shown(&args.tls));

    let members: BTreeSet<u64> = peers.keys().copied().collect();
    let journal = tokio::select! {
        journal = join(&replica, &members, &cluster, origin == Origin::Founding, &clock) => journal?,
        () = crate::shutdown_signal() => {
            let _ = stop.send(true);
            let _ = replica.shutdown().await;
            return Ok(());
        }
    };
    let runtime = Runtime::start(RuntimeConfig {
        journal: Arc::new(journal.clone()),
        checkpoints: Arc::new(journal.clone()),
        clock,
        settings: args.settings(),
        agent_timeout: Duration::from_secs(args.agent_timeout_secs),
        start_as: StartAs::Follower,
        mirror: args.mirror(&cluster),
        coordinators: args.coordinators()?,
    })
    .await
    .context("recovering the scheduler's state from the journal")?;
    let group = Group::with_tls(&cluster, replica.clone(), peers, &client_tls);
    let watch = replicated::watch_leadership(runtime.clone(), group.clone());
    replicated::note_pages(&runtime, &group);

    let backups = args.backups(journal.local_rocks())?;
    let full = aurora_scheduler::auth::guard(
        crate::app(&cluster, &runtime, metrics, &gate)
            .merge(replicated::routes(runtime.clone(), group.clone()))
            .merge(aurora_scheduler::backups::router(backups)),
        gate.clone(),
    )
    .layer(axum::middleware::from_fn_with_state(
        (runtime.clone(), group),
        replicated::forward_writes,
    ));
    let _ = ready.set(full);
    println!(
        "  journal: {} (last seq {}); web UI: http://{addr}/scheduler; replicas: http://{addr}/api/v1/replicas",
        args.data_dir.display(),
        journal.last_seq()
    );

    let mut watch = watch;
    tokio::select! {
        () = crate::shutdown_signal() => tracing::info!("shutting down"),
        // The watch ends only when Raft stopped: a storage fault or a bug (logged above)
        // stopped this replica's Raft, and a replica without it can neither vote nor apply.
        // Serving on would answer /health with OK for a replica that is dead; exiting lets a
        // supervisor restart it from its directory.
        _ = &mut watch => {
            let _ = stop.send(true);
            let _ = server.await;
            bail!(
                "replica {id}'s Raft stopped (see the errors above): exiting so that it can be \
                 restarted from {}",
                args.data_dir.display()
            );
        }
    }
    runtime.step_down();
    watch.abort();
    let _ = stop.send(true);
    let _ = server.await;
    if let Err(e) = replica.shutdown().await {
        tracing::warn!(error = %e, "the replica did not stop cleanly");
    }
    Ok(())
}

/// The replicas' shared secret (`--replication-secret`), which authentication requires: with
/// users and permissions on the API, open Raft routes would let anyone rewrite the journal.
fn replication_secret(args: &Args) -> anyhow::Result<Option<String>> {
    let Some(path) = &args.replication_secret else {
        if args.auth.is_some() {
            bail!(
                "with --auth, replicas must prove themselves to each other: give \
                 --replication-secret FILE, the same secret on every replica"
            );
        }
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --replication-secret {}", path.display()))?;
    let secret = text.trim();
    if secret.len() < 16 || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        bail!(
            "--replication-secret {}: expected one word of 16 or more visible ASCII characters",
            path.display()
        );
    }
    Ok(Some(secret.to_string()))
}

/// Until the runtime is up, only Raft is served; everything else is told to come back.
async fn until_ready(ready: Arc<OnceLock<axum::Router>>, id: u64, request: Request) -> Response {
    match ready.get() {
        Some(app) => match app.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        None => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(aurora_scheduler::api::ApiError {
                code: "ERROR_TRANSIENT".into(),
                message: format!(
                    "replica {id} is starting: it is waiting for the cluster's journal (a \
                     quorum of replicas must be up; at a new cluster's first start, every \
                     replica is started with --init)"
                ),
            }),
        )
            .into_response(),
    }
}

/// The cluster's journal through this replica: initialised here with `--init` (once a quorum
/// answers), or as it arrives from the others. Waits as long as it takes, saying why.
async fn join(
    replica: &Replica,
    members: &BTreeSet<u64>,
    cluster: &str,
    init: bool,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<RaftJournal> {
    let id = replica.id();
    let mut attempts = 0u32;
    loop {
        // Its Raft stopped (a storage fault, logged): waiting on would only answer "starting"
        // forever; exiting lets a supervisor restart it.
        if replica.raft().metrics().has_changed().is_err() {
            bail!("replica {id}'s Raft stopped (see the errors above) while joining the cluster");
        }
        if init {
            match RaftJournal::initialise(replica, members.clone(), cluster, clock.now()).await {
                Ok(journal) => {
                    println!("  initialised cluster {cluster} with replicas {members:?}");
                    return Ok(journal);
                }
                Err(JournalError::AlreadyInitialised { .. }) => {
                    tracing::info!(replica = id, "the cluster is already initialised");
                    return RaftJournal::open(replica).context("opening the replicated journal");
                }
                Err(e) => {
                    if attempts % 10 == 0 {
                        tracing::warn!(replica = id, error = %e, "cannot initialise yet: waiting for a quorum of replicas");
                    }
                    // The journal may have arrived from a replica that won the race.
                    if let Ok(journal) = RaftJournal::open(replica) {
                        return Ok(journal);
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        } else {
            match RaftJournal::open_within(replica, Duration::from_secs(5)).await {
                Ok(journal) => return Ok(journal),
                Err(_) if attempts % 6 == 0 => tracing::warn!(
                    replica = id,
                    "waiting for the cluster's journal: the other replicas must be up, and at \
                     a new cluster's first start every replica is started with --init"
                ),
                Err(_) => {}
            }
        }
        attempts = attempts.wrapping_add(1);
    }
}
