//! Replicas that reach each other over HTTP, each serving Raft's internal routes on its own
//! loopback port, as the scheduler processes will: concurrent appends end identical on every
//! replica, and when the leader's process goes (its server and its Raft stop) another replica
//! takes over, with every acknowledged append kept and the old leader fenced. Over mutual TLS
//! (each replica serving HTTPS and requiring its peers' client certificates) they agree too.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aurora_journal::conformance::{append, assert_dense, marker, now, read_marker};
use aurora_journal::{Error, Journal};
use aurora_net::testing::Pki;
use aurora_net::{ClientTls, Limits, ServerTls};
use aurora_raft::{Compaction, NodeId, RaftJournal, Replica, Router, Storage, http};
use tokio::task::JoinHandle;

use support::{Cluster, assert_identical, quick};

/// A cluster over HTTP: the test support's cluster, plus each replica's server task.
struct HttpCluster {
    cluster: Cluster,
    servers: BTreeMap<NodeId, JoinHandle<()>>,
    peers: BTreeMap<NodeId, String>,
    server_tls: Option<ServerTls>,
}

impl HttpCluster {
    async fn start(n: u64) -> Self {
        Self::start_with(n, None, Compaction::default()).await
    }

    /// With `pki`, every replica serves HTTPS with the PKI's server certificate, requires
    /// client certificates from its CA, and calls its peers presenting the client one.
    async fn start_with(n: u64, pki: Option<&Pki>, compaction: Compaction) -> Self {
        let client_tls = pki.map_or_else(ClientTls::default, |pki| ClientTls {
            ca_file: Some(pki.ca.clone()),
            identity: Some((pki.client_cert.clone(), pki.client_key.clone())),
        });
        let server_tls = pki.map(|pki| {
            ServerTls::load(&pki.server_cert, &pki.server_key, Some(&pki.ca)).expect("server TLS")
        });
        let router = Router::https(
            "c",
            BTreeMap::new(),
            Duration::from_secs(2),
            None,
            &client_tls,
        );
        let mut http = Self {
            cluster: Cluster {
                router,
                storage: BTreeMap::new(),
                replicas: BTreeMap::new(),
                timeouts: quick(),
                dir: None,
                compaction,
            },
            servers: BTreeMap::new(),
            peers: BTreeMap::new(),
            server_tls,
        };
        let mut listeners = BTreeMap::new();
        for id in 1..=n {
            listeners.insert(id, http.listen(id).await);
        }
        for (id, listener) in listeners {
            http.serve(id, listener).await;
        }
        http
    }

    /// Binds replica `id`'s port, and tells the network where it is.
    async fn listen(&mut self, id: NodeId) -> tokio::net::TcpListener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let scheme = if self.server_tls.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://127.0.0.1:{port}");
        self.cluster.router.set_peer(id, &url);
        self.peers.insert(id, url);
        listener
    }

    /// Starts replica `id` on empty storage, serving its routes on `listener`.
    async fn serve(&mut self, id: NodeId, listener: tokio::net::TcpListener) {
        let storage = Storage::new().compacting(self.cluster.compaction);
        self.cluster.storage.insert(id, storage.clone());
        let replica = Replica::start(
            id,
            &storage,
            &self.cluster.router,
            self.cluster.timeouts.clone(),
        )
        .await
        .expect("start replica");
        let routes = http::routes(&replica, "c");
        let tls = self.server_tls.clone();
        self.servers.insert(
            id,
            tokio::spawn(async move {
                aurora_net::serve(
                    listener,
                    routes,
                    Limits::default(),
                    tls,
                    std::future::pending(),
                )
                .await;
            }),
        );
        self.cluster.replicas.insert(id, replica);
    }

    /// The replica's process goes: its server stops answering and its Raft stops.
    async fn kill(&mut self, id: NodeId) {
        if let Some(server) = self.servers.remove(&id) {
            server.abort();
        }
        self.cluster.stop(id).await;
    }
}

/// `writers` concurrent writers append 5 batches each through `journal`; the markers
/// acknowledged.
async fn write(journal: &RaftJournal, writers: u32, offset: u32) -> BTreeSet<(u32, u32)> {
    let mut tasks = Vec::new();
    for writer in offset..offset + writers {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0..5u32 {
                append(&journal, vec![marker(writer, n)])
                    .await
                    .expect("append");
                acknowledged.push((writer, n));
            }
            acknowledged
        }));
    }
    let mut acknowledged = BTreeSet::new();
    for task in tasks {
        acknowledged.extend(task.await.expect("writer"));
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_over_mutual_tls_agree() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new(dir.path());
    let mut cluster = HttpCluster::start_with(3, Some(&pki), Compaction::default()).await;
    assert!(
        cluster
            .peers
            .values()
            .all(|url| url.starts_with("https://"))
    );
    let journal = cluster
        .cluster
        .initialise("c", now())
        .await
        .expect("initialise over TLS");
    let acknowledged = write(&journal, 3, 0).await;
    cluster.cluster.settle(journal.replica()).await;
    let all = assert_identical(&cluster.cluster).await;
    assert_dense(&all);
    let markers: BTreeSet<(u32, u32)> = all.iter().filter_map(read_marker).collect();
    assert_eq!(markers, acknowledged);
    for id in 1..=3 {
        cluster.kill(id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_over_http_agree_and_survive_the_leaders_process_going() {
    let mut cluster = HttpCluster::start(3).await;
    let journal = cluster
        .cluster
        .initialise("c", now())
        .await
        .expect("initialise");
    let mut acknowledged = write(&journal, 4, 0).await;
    cluster.cluster.settle(journal.replica()).await;
    let all = assert_identical(&cluster.cluster).await;
    assert_dense(&all);

    let old = cluster.cluster.leader().await;
    let old_term = RaftJournal::open(&old).expect("open").term();
    let started = tokio::time::Instant::now();
    cluster.kill(old.id()).await;
    let new = cluster.cluster.leader_except(&[old.id()]).await;
    println!(
        "replica {} took over from replica {} in {:?}",
        new.id(),
        old.id(),
        started.elapsed()
    );
    let journal = RaftJournal::open(&new).expect("open");
    assert!(journal.term() > old_term, "a new term");
    acknowledged.extend(write(&journal, 2, 10).await);
    cluster.cluster.settle(&new).await;
    let all = assert_identical(&cluster.cluster).await;
    assert_dense(&all);
    let markers: Vec<_> = all.iter().filter_map(read_marker).collect();
    assert_eq!(markers.len(), acknowledged.len(), "no duplicates");
    assert_eq!(markers.into_iter().collect::<BTreeSet<_>>(), acknowledged);

    // The old leader's handle cannot write: its replica has stopped.
    let refused = append(&RaftJournal::open(&old).expect("open"), vec![marker(99, 0)]).await;
    assert!(
        matches!(refused, Err(Error::NotLeader { .. })),
        "{refused:?}"
    );
}

/// Over mutual TLS, with the logs compacted: a replica added after the log it would need was
/// purged receives the whole journal in chunks over HTTPS, and then votes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_added_over_https_after_compaction_receives_the_whole_journal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new(dir.path());
    let compaction = Compaction {
        snapshot_every: 10,
        keep: 2,
    };
    let mut cluster = HttpCluster::start_with(3, Some(&pki), compaction).await;
    let journal = cluster
        .cluster
        .initialise("c", now())
        .await
        .expect("initialise");
    let mut acknowledged = BTreeSet::new();
    for round in 0..4 {
        acknowledged.extend(write(&journal, 8, round * 8).await);
    }
    let leader = journal.replica().clone();
    cluster.cluster.wait_purged_past(leader.id(), 20).await;

    let listener = cluster.listen(4).await;
    cluster.serve(4, listener).await;
    leader
        .add_voter(4, &cluster.peers[&4], support::WAIT)
        .await
        .expect("replica 4 joins");
    assert!(leader.voters().contains(&4));
    cluster.cluster.settle(&leader).await;
    let all = assert_identical(&cluster.cluster).await;
    assert_dense(&all);
    let markers: Vec<_> = all.iter().filter_map(read_marker).collect();
    assert_eq!(markers.len(), acknowledged.len(), "no duplicates");
    assert_eq!(markers.into_iter().collect::<BTreeSet<_>>(), acknowledged);
    for id in 1..=4 {
        cluster.kill(id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_answers_something_else_is_unreachable_not_a_verdict() {
    // A "peer" whose port serves no Raft routes: votes to it fail as unreachable, so the
    // other two still elect a leader and commit.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let stranger = tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new()).await;
    });
    let mut cluster = HttpCluster::start(2).await;
    cluster
        .cluster
        .router
        .set_peer(3, &format!("http://127.0.0.1:{port}"));
    cluster.cluster.storage.insert(3, Storage::new());
    let journal = cluster
        .cluster
        .initialise("c", now())
        .await
        .expect("a quorum of two answers");
    append(&journal, vec![marker(1, 0)]).await.expect("append");
    stranger.abort();
}

/// A Raft RPC naming another cluster, or none, is refused before Raft sees it; one naming
/// this cluster is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_refuse_rpcs_meant_for_another_cluster() {
    let cluster = HttpCluster::start(1).await;
    let url = format!("{}{}", cluster.peers[&1], http::VOTE);
    let vote = serde_json::json!({
        "vote": {"leader_id": {"term": 1, "node_id": 9}, "committed": false},
        "last_log_id": null
    });
    let client = aurora_net::default_client();
    for (header, expected) in [(Some("other"), 409), (None, 409), (Some("c"), 200)] {
        let mut request = client.post(&url).json(&vote);
        if let Some(name) = header {
            request = request.header(http::CLUSTER_HEADER, name);
        }
        let response = request.send().await.expect("answer");
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        assert_eq!(status, expected, "cluster {header:?}: {body}");
        if expected == 409 {
            assert!(body.contains("\"c\""), "names this cluster: {body}");
        }
    }
    // A body that is neither the binary format nor JSON is refused with why.
    let response = client
        .post(&url)
        .header(http::CLUSTER_HEADER, "c")
        .body(vec![7u8, 0, 1])
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("does not decode"), "{body}");

    // A replica that starts asks its peers first: those of another cluster name say so.
    let peers = BTreeMap::from([(1, cluster.peers[&1].clone())]);
    let survey = |name: &str| {
        Router::https(
            name,
            peers.clone(),
            Duration::from_secs(2),
            None,
            &ClientTls::default(),
        )
    };
    let theirs = survey("other").survey_peers(2).await;
    assert!(theirs.answered.is_empty(), "{theirs:?}");
    assert_eq!(theirs.refusals.len(), 1, "{theirs:?}");
    assert!(
        theirs.refusals[0].1.contains("409") && theirs.refusals[0].1.contains("\"other\""),
        "{theirs:?}"
    );
    let ours = survey("c").survey_peers(2).await;
    assert_eq!(ours.answered, vec![1], "{ours:?}");
    assert!(ours.refusals.is_empty(), "{ours:?}");
}

/// With a replication secret, a replica's Raft routes answer only peers that present it:
/// nobody who merely reaches the port can vote or send entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_a_secret_refuses_rpcs_without_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let storage = Storage::new();
    let router = Router::http_with_secret(
        "c",
        BTreeMap::from([(1, base.clone())]),
        Duration::from_secs(2),
        Some("s3cret-shared-by-the-replicas"),
    );
    let replica = Replica::start(1, &storage, &router, quick())
        .await
        .expect("start replica");
    let routes = http::routes_with_secret(&replica, "c", Some("s3cret-shared-by-the-replicas"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, routes).await;
    });
    let client = aurora_net::default_client();
    let vote = |secret: Option<&'static str>| {
        let mut request = client
            .post(format!("{base}{}", http::VOTE))
            .header(http::CLUSTER_HEADER, "c")
            .body("not an rpc");
        if let Some(secret) = secret {
            request = request.header(http::SECRET_HEADER, secret);
        }
        request.send()
    };
    assert_eq!(vote(None).await.expect("answer").status(), 401);
    assert_eq!(vote(Some("guess")).await.expect("answer").status(), 401);
    // The right secret gets past the check, to the RPC's own decoding.
    assert_eq!(
        vote(Some("s3cret-shared-by-the-replicas"))
            .await
            .expect("answer")
            .status(),
        400
    );
    server.abort();
    let _ = replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn additions_that_would_weaken_the_quorum_are_refused() {
    let mut cluster = HttpCluster::start(3).await;
    let journal = cluster
        .cluster
        .initialise("c", now())
        .await
        .expect("initialise");
    write(&journal, 2, 0).await;
    let leader = journal.replica().clone();
    let voters = leader.voters();

    // Another member's URL: one process would answer, and vote, for two ids.
    let third = cluster.peers[&3].clone();
    let refused = leader
        .add_voter(4, &third, support::WAIT)
        .await
        .expect_err("replica 3's URL under another id");
    assert!(
        matches!(refused, aurora_raft::Error::AddRefused { id: 4, .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("replica 3's URL"), "{refused}");

    // A member again, elsewhere: its traffic would go to the wrong place.
    let refused = leader
        .add_voter(3, "http://127.0.0.1:1", support::WAIT)
        .await
        .expect_err("a member moved by an add");
    assert!(
        refused.to_string().contains("already a member"),
        "{refused}"
    );

    // Nobody there: it must not become a voter the quorum then waits for.
    let nobody = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let started = std::time::Instant::now();
    let failed = leader
        .add_voter(4, &nobody, Duration::from_secs(2))
        .await
        .expect_err("an unreachable replica cannot catch up");
    assert!(
        failed.to_string().contains("has not received the journal"),
        "{failed}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for it"
    );
    assert_eq!(leader.voters(), voters, "the quorum is unchanged");
    append(&journal, vec![marker(9, 0)])
        .await
        .expect("writes still commit");
    for id in 1..=3 {
        cluster.kill(id).await;
    }
}
