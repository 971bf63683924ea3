//! Running as one replica of a Raft group (`--replica-id N --peers ...`): who leads, where
//! writes go, and what an operator can see.
//!
//! - [`watch_leadership`] follows the replica's Raft state and starts or stops the runtime's
//!   [`crate::leader`] to match: only the Raft leader runs the scheduling loop, the timers, the
//!   agents' outbox and effects. A runtime that leads under an older term than Raft's current
//!   one steps down first (its appends would be refused anyway).
//! - [`forward_writes`] is a middleware: on a follower, requests that need the leader (every
//!   write under `/api/`, and all of the agents' protocol) are forwarded to the leader's URL and
//!   its answer is passed back, so clients and agents may talk to any replica. Reads are
//!   served from the follower's own models.
//! - [`routes`] adds `/api/v1/replicas` (the group as this replica sees it) and the metrics
//!   the watcher keeps: term, leader, commit index, apply lag, per-follower replication lag.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aurora_raft::{NodeId, Replica};
use axum::Json;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::api::{ApiError, Failure};
use crate::runtime::Runtime;

/// Set on a request a follower forwards, so that a replica never forwards it again (two
/// replicas that each believe the other leads would otherwise bounce it between them).
pub const FORWARDED_BY: &str = "x-aurora-forwarded-by";

/// On the leader's answer to a forwarded request: its journal's last seq once the request was
/// handled. The follower waits until it has applied that far before passing the answer on, so
/// a client that writes through a follower reads its write there next (read-your-writes).
pub const LEADER_SEQ: &str = "x-aurora-leader-seq";

/// Longest a follower waits to apply the leader's seq before answering anyway.
const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(2);

/// Longest a forwarded request may take, answer included.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(45);

/// Largest request body a follower forwards (job configs with many instances are the big ones).
const MAX_FORWARDED_BODY: usize = 64 * 1024 * 1024;

/// Parses `--peers`: `1=http://h1:8081,2=http://h2:8081,3=http://h3:8081`.
pub fn parse_peers(text: &str) -> Result<BTreeMap<NodeId, String>, String> {
    let mut peers: BTreeMap<NodeId, String> = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (id, url) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not ID=URL (e.g. 1=http://h1:8081)"))?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| format!("{id:?} in {item:?} is not a replica id (a positive number)"))?;
        if id == 0 {
            return Err(format!("{item:?}: replica ids start at 1"));
        }
        let url = url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "{item:?}: the URL must start with http:// or https://"
            ));
        }
        match reqwest::Url::parse(url) {
            Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => {}
            Ok(_) => return Err(format!("{item:?}: the URL names no host")),
            Err(e) => return Err(format!("{item:?}: not a URL: {e}")),
        }
        // One process answering for two ids would vote twice: a quorum of one.
        if let Some((other, _)) = peers
            .iter()
            .find(|(_, known)| aurora_raft::same_url(known, url))
        {
            return Err(format!(
                "{url} is listed for replicas {other} and {id}: each replica has its own URL"
            ));
        }
        if peers.insert(id, url.to_string()).is_some() {
            return Err(format!("replica {id} is listed twice"));
        }
    }
    if peers.is_empty() {
        return Err("no replicas listed (e.g. 1=http://h1:8081,2=http://h2:8081)".into());
    }
    Ok(peers)
}

/// What a replica knows of its group; shared by the watcher, the forwarder and the routes.
#[derive(Clone)]
pub struct Group {
    pub cluster: String,
    pub replica: Replica,
    /// Base URL of every replica, by id.
    pub peers: Arc<RwLock<BTreeMap<NodeId, String>>>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("cluster", &self.cluster)
            .field("replica", &self.replica.id())
            .finish_non_exhaustive()
    }
}

impl Group {
    pub fn new(cluster: &str, replica: Replica, peers: BTreeMap<NodeId, String>) -> Self {
        Self::with_tls(cluster, replica, peers, &aurora_net::ClientTls::default())
    }

    /// Like [`Group::new`], forwarding to `https://` peers with `tls`.
    pub fn with_tls(
        cluster: &str,
        replica: Replica,
        peers: BTreeMap<NodeId, String>,
        tls: &aurora_net::ClientTls,
    ) -> Self {
        let client = aurora_net::client(tls, |builder| {
            builder
                .connect_timeout(Duration::from_secs(2))
                // A leader that accepts connections but never answers (stopped, wedged) must not
                // hold a forwarded request forever; the longest honest answer is a 30 s work poll.
                .timeout(FORWARD_TIMEOUT)
                // Redirects are the client's business: pass them back as they are.
                .redirect(reqwest::redirect::Policy::none())
        });
        Self {
            cluster: cluster.to_string(),
            replica,
            peers: Arc::new(RwLock::new(peers)),
            client,
        }
    }

    pub fn id(&self) -> NodeId {
        self.replica.id()
    }

    /// The replica this one knows leads, if any (see [`known_leader`]).
    pub fn leader(&self) -> Option<NodeId> {
        known_leader(&self.replica.raft().metrics().borrow())
    }

    /// Where replica `id` is reached: as `--peers` or a membership change said, or as the
    /// group's membership records it (a replica added after this one started).
    fn url_of(&self, id: NodeId) -> Option<String> {
        let known = self
            .peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned();
        known.or_else(|| {
            let metrics = self.replica.raft().metrics().borrow().clone();
            metrics
                .membership_config
                .membership()
                .get_node(&id)
                .map(|node| node.addr.clone())
                .filter(|addr| !addr.is_empty())
        })
    }
}

/// What every page of a replica says about where it was served: this replica, its role, and
/// how many log entries it holds but has not applied yet (what it knows it is behind by).
struct PageNote {
    group: Group,
}

impl aurora_projections::ServedBy for PageNote {
    fn served_by(&self) -> String {
        let m = self.group.replica.raft().metrics().borrow().clone();
        let id = self.group.id();
        let applied = m.last_applied.map_or(0, |l| l.index);
        let behind = m.last_log_index.unwrap_or(0).saturating_sub(applied);
        if !is_member(&m) {
            return format!(
                "served by replica {id}, which is no longer a member of the cluster (removed): \
                 it shows the cluster as of its removal"
            );
        }
        match known_leader(&m) {
            Some(leader) if leader == id => format!("served by replica {id}, the leader"),
            Some(leader) => format!(
                "served by replica {id}, a follower of replica {leader}, {behind} log \
                 entries behind"
            ),
            None => format!("served by replica {id}; no leader elected right now"),
        }
    }
}

/// Makes every page of `runtime`'s UI say which replica served it.
pub fn note_pages(runtime: &Runtime, group: &Group) {
    runtime.read_model().set_served_by(Arc::new(PageNote {
        group: group.clone(),
    }));
}

/// Keeps the runtime's leadership in step with Raft's until the replica stops.
pub fn watch_leadership(runtime: Runtime, group: Group) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let id = group.id();
        let mut metrics = group.replica.raft().metrics();
        let mut lag_reported = BTreeSet::new();
        loop {
            let m = metrics.borrow_and_update().clone();
            record_metrics(&runtime, &m, &mut lag_reported);
            let leads = m.state == openraft::ServerState::Leader && m.current_leader == Some(id);
            match (leads, runtime.term()) {
                (true, Some(term)) if term == m.current_term => {}
                (true, led) => {
                    if led.is_some() {
                        runtime.step_down();
                    }
                    match runtime.lead().await {
                        Ok(term) => tracing::info!(replica = id, term, "leading"),
                        Err(e) => {
                            // Raft may already have moved on; look again shortly.
                            tracing::warn!(replica = id, error = %e, "could not start leading");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    }
                }
                (false, Some(term)) => {
                    tracing::warn!(replica = id, term, leader = ?known_leader(&m), "no longer the leader");
                    runtime.step_down();
                }
                (false, None) => {}
            }
            // Metrics change on every commit; the periodic wake keeps the gauges fresh when
            // nothing happens and catches a runtime that stepped down by itself.
            let changed = tokio::time::timeout(Duration::from_secs(1), metrics.changed()).await;
            if let Ok(Err(_)) = changed {
                tracing::info!(replica = id, "Raft stopped; leadership watch ends");
                runtime.step_down();
                return;
            }
        }
    })
}

type Metrics = openraft::RaftMetrics<NodeId, openraft::BasicNode>;

/// Whether this replica is still a member (voter or learner) of the group as it knows it.
fn is_member(m: &Metrics) -> bool {
    m.membership_config
        .membership()
        .nodes()
        .any(|(member, _)| *member == m.id)
}

/// The leader as this replica can vouch for it. openraft 0.9 keeps the vote of a leader that
/// stepped down because it was removed from the group, so its metrics go on naming it the
/// leader; and a removed replica hears from no leader after, so whatever it last knew is stale.
fn known_leader(m: &Metrics) -> Option<NodeId> {
    let leader = m.current_leader?;
    if !is_member(m) || (leader == m.id && m.state != openraft::ServerState::Leader) {
        return None;
    }
    Some(leader)
}

/// The highest log index a quorum of voters holds, as the leader sees it; elsewhere (openraft
/// 0.9 does not publish a follower's commit index) the last applied index, which trails it
/// by at most what is being applied.
fn commit_index(m: &Metrics) -> u64 {
    let applied = m.last_applied.map_or(0, |l| l.index);
    let Some(replication) = &m.replication else {
        return applied;
    };
    let last_log = m.last_log_index.unwrap_or(0);
    let mut held: Vec<u64> = m
        .membership_config
        .membership()
        .voter_ids()
        .map(|id| match replication.get(&id) {
            Some(matched) => matched.map_or(0, |l| l.index),
            None => last_log,
        })
        .collect();
    if held.is_empty() {
        return applied;
    }
    held.sort_unstable_by(|a, b| b.cmp(a));
    held[held.len() / 2]
}

/// `lag_reported`: the followers whose replication lag this replica has reported; one that
/// is no longer replicated to from here (removed, or this replica no longer leads) is
/// reported 0, so that an alert on it clears (the exporter cannot drop a series).
fn record_metrics(runtime: &Runtime, m: &Metrics, lag_reported: &mut BTreeSet<NodeId>) {
    let applied = m.last_applied.map_or(0, |l| l.index);
    let last_log = m.last_log_index.unwrap_or(0);
    metrics::gauge!("aurora_raft_commit_index").set(commit_index(m) as f64);
    metrics::gauge!("aurora_raft_term").set(m.current_term as f64);
    metrics::gauge!("aurora_raft_leader").set(known_leader(m).unwrap_or(0) as f64);
    metrics::gauge!("aurora_raft_is_leader").set(f64::from(u8::from(runtime.is_leader())));
    metrics::gauge!("aurora_raft_last_log_index").set(last_log as f64);
    metrics::gauge!("aurora_raft_last_applied_index").set(applied as f64);
    metrics::gauge!("aurora_raft_apply_lag_entries").set(last_log.saturating_sub(applied) as f64);
    // Compaction: the last snapshot's entry, and the last entry purged from the log behind it.
    metrics::gauge!("aurora_raft_snapshot_index").set(m.snapshot.map_or(0, |l| l.index) as f64);
    metrics::gauge!("aurora_raft_purged_index").set(m.purged.map_or(0, |l| l.index) as f64);
    let replication = m.replication.clone().unwrap_or_default();
    for (follower, matched) in &replication {
        let matched = matched.map_or(0, |l| l.index);
        metrics::gauge!("aurora_raft_replication_lag_entries", "follower" => follower.to_string())
            .set(last_log.saturating_sub(matched) as f64);
        lag_reported.insert(*follower);
    }
    lag_reported.retain(|follower| {
        let still = replication.contains_key(follower);
        if !still {
            metrics::gauge!("aurora_raft_replication_lag_entries", "follower" => follower.to_string())
                .set(0.0);
        }
        still
    });
}

/// Whether `request` must be served by the leader.
fn needs_leader(method: &Method, path: &str) -> bool {
    if !path.starts_with("/api/") {
        return false;
    }
    // The agents' protocol is the leader's whole business (heartbeats, work, reports), reads
    // included; everything else is a write unless it is a plain read.
    path.starts_with("/api/v1/agents") || !matches!(*method, Method::GET | Method::HEAD)
}

fn unavailable(code: &str, message: String) -> Response {
    Failure(
        StatusCode::SERVICE_UNAVAILABLE,
        ApiError {
            code: code.into(),
            message,
        },
    )
    .into_response()
}

/// The middleware: see the module docs.
pub async fn forward_writes(
    State((runtime, group)): State<(Runtime, Group)>,
    request: Request,
    next: Next,
) -> Response {
    if request.headers().contains_key(FORWARDED_BY) {
        let mut response = next.run(request).await;
        if let Ok(seq) = HeaderValue::from_str(&runtime.journal().last_seq().to_string()) {
            response.headers_mut().insert(LEADER_SEQ, seq);
        }
        return response;
    }
    // Aurora's contract: /leaderhealth is 200 only where writes can succeed. A leader cut off
    // from its quorum still believes it leads, but refuses every write: a load balancer or
    // `get_scheduler` must not send clients to it.
    if request.uri().path() == "/leaderhealth"
        && let Some(silent) = group.replica.quorum_silent_for()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not the leader: replica {} has heard from no quorum of replicas for {} ms and \
                 refuses writes\n",
                group.id(),
                silent.as_millis()
            ),
        )
            .into_response();
    }
    if runtime.is_leader() || !needs_leader(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let id = group.id();
    let leader = match group.leader() {
        // Raft says this replica leads but the runtime has not started leading yet: the
        // handler answers (NOT_LEADER, retry shortly).
        Some(leader) if leader == id => return next.run(request).await,
        Some(leader) => leader,
        None => {
            return unavailable(
                "NOT_LEADER",
                format!(
                    "replica {id} is a follower and no leader is elected right now (a quorum of \
                     replicas must be reachable); retry shortly"
                ),
            );
        }
    };
    let Some(base) = group.url_of(leader) else {
        return unavailable(
            "NOT_LEADER",
            format!("replica {leader} leads, but replica {id} knows no URL for it"),
        );
    };
    forward(&runtime, &group, leader, &base, request).await
}

/// Headers that describe one hop's connection, not the request.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "upgrade"
    )
}

async fn forward(
    runtime: &Runtime,
    group: &Group,
    leader: NodeId,
    base: &str,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let body = match axum::body::to_bytes(body, MAX_FORWARDED_BODY).await {
        Ok(body) => body,
        Err(e) => {
            return Failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                ApiError {
                    code: "INVALID_REQUEST".into(),
                    message: format!(
                        "request body unreadable or over {MAX_FORWARDED_BODY} bytes: {e}"
                    ),
                },
            )
            .into_response();
        }
    };
    let url = format!("{base}{path}");
    let mut outgoing = group.client.request(parts.method.clone(), &url).body(body);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    outgoing = outgoing.header(FORWARDED_BY, group.id().to_string());
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        // Not connected: the leader never saw it, and another replica may take it.
        Err(e) if e.is_connect() => {
            return unavailable(
                "NOT_LEADER",
                format!(
                    "replica {} could not reach the leader, replica {leader} at {base} ({e}); \
                     if that replica is down or cut off, a new leader is elected only once a \
                     quorum of replicas is reachable: retry then",
                    group.id()
                ),
            );
        }
        // Sent, and no answer: it may have been carried out. A client must not send it
        // elsewhere (a retryable 503 would have it do so), nor assume it was not done.
        Err(e) => {
            return Failure(
                StatusCode::GATEWAY_TIMEOUT,
                ApiError {
                    code: crate::api::OUTCOME_UNKNOWN.into(),
                    message: format!(
                        "replica {} forwarded the write to the leader, replica {leader} at \
                         {base}, and got no answer ({e}): whether it was carried out is \
                         unknown; check before repeating it",
                        group.id()
                    ),
                },
            )
            .into_response();
        }
    };
    let leader_seq = answer
        .headers()
        .get(LEADER_SEQ)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if let Some(seq) = leader_seq
        && let Err(e) = runtime.wait_applied(seq, READ_YOUR_WRITES_WAIT).await
    {
        tracing::debug!(seq, error = %e, "answering before the leader's seq is applied here");
    }
    let status = answer.status();
    let mut response = Response::builder().status(status);
    for (name, value) in answer.headers() {
        if !hop_by_hop(name) {
            response = response.header(name, value);
        }
    }
    if let Ok(leader) = HeaderValue::from_str(&leader.to_string()) {
        response = response.header("x-aurora-served-by", leader);
    }
    // Streamed back as it arrives: a long work poll answers when the leader does.
    let body = Body::from_stream(answer.bytes_stream());
    response
        .body(body)
        .unwrap_or_else(|e| unavailable("ERROR_TRANSIENT", format!("bad forwarded answer: {e}")))
}

/// One replica as `/api/v1/replicas` shows it.
#[derive(Debug, Serialize)]
pub struct ReplicaView {
    pub id: NodeId,
    pub url: Option<String>,
    pub voter: bool,
    pub leader: bool,
    /// On the leader: how many log entries this replica is behind.
    pub lag: Option<u64>,
}

/// `/api/v1/replicas`.
#[derive(Debug, Serialize)]
pub struct GroupView {
    pub cluster: String,
    /// The replica that answered.
    pub this: NodeId,
    pub leader: Option<NodeId>,
    /// Whether the replica that answered is still a member of the group (false once removed).
    pub member: bool,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub journal_last_seq: u64,
    /// This replica's write model: the seq it has applied and a SHA-256 of its checkpoint
    /// encoding there. Replicas that applied the same seq must show the same digest.
    pub write_model: WriteModelView,
    pub replicas: Vec<ReplicaView>,
}

#[derive(Debug, Serialize)]
pub struct WriteModelView {
    pub seq: u64,
    pub digest: String,
}

fn write_model(runtime: &Runtime) -> WriteModelView {
    use sha2::Digest;
    let (seq, bytes) = {
        let state = runtime.state();
        (state.last_seq(), state.to_checkpoint())
    };
    let digest = sha2::Sha256::digest(&bytes);
    WriteModelView {
        seq,
        digest: digest.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

async fn group_view(State((runtime, group)): State<(Runtime, Group)>) -> Json<GroupView> {
    let m = group.replica.raft().metrics().borrow().clone();
    let leader = known_leader(&m);
    let last_log = m.last_log_index.unwrap_or(0);
    let membership = m.membership_config.membership();
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    let peers = group
        .peers
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // The members are the membership's (voters and learners), not `--peers`': a replica
    // removed since this one started is no longer one. Each member's URL is in the membership
    // (so a replica added after this one started is shown with it), or in `--peers`.
    let replicas = membership
        .nodes()
        .map(|(id, node)| (*id, node.addr.trim_end_matches('/')))
        .map(|(id, addr)| ReplicaView {
            id,
            url: peers
                .get(&id)
                .cloned()
                .or_else(|| (!addr.is_empty()).then(|| addr.to_string())),
            voter: voters.contains(&id),
            leader: leader == Some(id),
            lag: m.replication.as_ref().and_then(|r| {
                r.get(&id)
                    .map(|matched| last_log.saturating_sub(matched.map_or(0, |l| l.index)))
            }),
        })
        .collect();
    Json(GroupView {
        cluster: group.cluster.clone(),
        this: group.id(),
        leader,
        member: is_member(&m),
        term: m.current_term,
        commit_index: commit_index(&m),
        applied_index: m.last_applied.map_or(0, |l| l.index),
        journal_last_seq: runtime.journal().last_seq(),
        write_model: write_model(&runtime),
        replicas,
    })
}

/// `POST /api/v1/replicas`: a replica to add.
#[derive(Debug, serde::Deserialize)]
pub struct AddReplica {
    pub id: NodeId,
    /// Its base URL, e.g. `http://h4:8081`.
    pub url: String,
}

/// How long a new replica may take to receive the journal before it gets a vote.
const CATCH_UP: Duration = Duration::from_secs(40);

fn membership_failure(e: aurora_raft::Error) -> Failure {
    Failure(
        StatusCode::CONFLICT,
        ApiError {
            code: "INVALID_REQUEST".into(),
            message: e.to_string(),
        },
    )
}

fn only_the_leader(runtime: &Runtime, group: &Group) -> Result<(), Failure> {
    if runtime.is_leader() {
        Ok(())
    } else {
        Err(Failure(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError {
                code: "NOT_LEADER".into(),
                message: format!(
                    "replica {} does not lead; membership changes go to the leader",
                    group.id()
                ),
            },
        ))
    }
}

async fn add_replica(
    State((runtime, group)): State<(Runtime, Group)>,
    caller: crate::auth::Caller,
    body: Result<Json<AddReplica>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<GroupView>, Failure> {
    caller.authorize(aurora_auth::Action::AdminReplicasAdd, None)?;
    let Json(add) = body?;
    only_the_leader(&runtime, &group)?;
    let url = match parse_peers(&format!("{}={}", add.id, add.url)) {
        Ok(parsed) => parsed.into_values().next().unwrap_or_default(),
        Err(e) => return Err(Failure::invalid(e)),
    };
    tracing::warn!(replica = add.id, %url, "adding a replica to the group");
    let added = group.replica.add_voter(add.id, &url, CATCH_UP).await;
    // Known from the start of its catch-up (a learner's URL is in the membership too), unless
    // it was refused outright (another replica's URL, a voter's id).
    if !matches!(added, Err(aurora_raft::Error::AddRefused { .. })) {
        group
            .peers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(add.id, url.clone());
    }
    added.map_err(membership_failure)?;
    Ok(group_view(State((runtime, group))).await)
}

async fn remove_replica(
    State((runtime, group)): State<(Runtime, Group)>,
    Path(id): Path<NodeId>,
    caller: crate::auth::Caller,
) -> Result<Json<GroupView>, Failure> {
    caller.authorize(aurora_auth::Action::AdminReplicasRemove, None)?;
    only_the_leader(&runtime, &group)?;
    tracing::warn!(replica = id, "removing a replica from the group");
    group
        .replica
        .remove_voter(id)
        .await
        .map_err(membership_failure)?;
    group
        .peers
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    Ok(group_view(State((runtime, group))).await)
}

/// The group's own routes.
pub fn routes(runtime: Runtime, group: Group) -> axum::Router {
    axum::Router::new()
        .route("/api/v1/replicas", get(group_view).post(add_replica))
        .route("/api/v1/replicas/{id}/remove", post(remove_replica))
        .with_state((runtime, group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_bad_ones_are_named() {
        let peers = parse_peers("1=http://h1:8081, 2=http://h2:8081/,3=https://h3").expect("ok");
        assert_eq!(peers[&2], "http://h2:8081");
        assert_eq!(peers.len(), 3);
        for (bad, says) in [
            ("1=http://a,1=http://b", "listed twice"),
            ("x=http://a", "not a replica id"),
            ("0=http://a", "start at 1"),
            ("1=h1:8081", "http://"),
            ("1=http://a:8081,2=http://a:8081/", "replicas 1 and 2"),
            ("1=http://A:80,2=http://a", "replicas 1 and 2"),
            ("1=http://127.0.0.1:99999", "not a URL"),
            ("http://a", "not ID=URL"),
            ("", "no replicas"),
        ] {
            let e = parse_peers(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn writes_and_the_agents_protocol_need_the_leader() {
        assert!(needs_leader(&Method::POST, "/api/v1/jobs"));
        assert!(needs_leader(&Method::DELETE, "/api/v1/jobs/a/b/c"));
        assert!(needs_leader(&Method::GET, "/api/v1/agents/a1/work"));
        assert!(!needs_leader(&Method::GET, "/api/v1/jobs"));
        assert!(!needs_leader(&Method::GET, "/scheduler"));
        assert!(!needs_leader(&Method::POST, "/internal/raft/vote"));
    }
}
