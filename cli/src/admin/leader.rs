//! `aurora-admin get_scheduler CLUSTER`: which of the cluster's scheduler URIs leads, printed
//! as Aurora prints it (`Found leading scheduler at: http://host:port`).
//!
//! Aurora's client asks ZooKeeper; here each URI in clusters.json is asked `/leaderhealth`
//! (200 on the leader, 503 elsewhere; open without credentials) in order. When none of them
//! leads, a replica that answered is asked for its group (`/api/v1/replicas`), which names the
//! leader's URL even when clusters.json does not list it.

use std::time::Duration;

use serde::Deserialize;

use crate::context::Context;
use crate::exit::{CliError, CliResult, ExitCode};

/// How long one replica may take to answer: a leader answers `/leaderhealth` at once.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What one URI said when asked whether it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    Leads,
    /// It answered, with this HTTP status.
    Follows(u16),
    /// No answer: why.
    Unreachable(String),
}

#[derive(Debug, Deserialize)]
struct Group {
    replicas: Vec<Replica>,
}

#[derive(Debug, Deserialize)]
struct Replica {
    url: Option<String>,
    leader: bool,
}

pub(super) fn get_scheduler(ctx: &Context, cluster: &str) -> CliResult {
    let uris = ctx.clusters.scheduler_uris(cluster)?;
    let http = crate::client::blocking_builder()?
        .timeout(PROBE_TIMEOUT)
        .connect_timeout(PROBE_TIMEOUT)
        .build()
        .map_err(|e| CliError::new(ExitCode::Unknown, format!("HTTP client: {e}")))?;
    let probes: Vec<(String, Probe)> = uris
        .iter()
        .map(|uri| (uri.clone(), probe(&http, uri)))
        .collect();
    let leader = match probes.iter().find(|(_, p)| *p == Probe::Leads) {
        Some((uri, _)) => Some(uri.clone()),
        None => probes
            .iter()
            .filter(|(_, p)| matches!(p, Probe::Follows(_)))
            .find_map(|(uri, _)| leader_named_by(&http, uri)),
    };
    if let Some(leader) = leader {
        println!("Found leading scheduler at: {leader}");
        return Ok(());
    }
    let tried: Vec<String> = probes
        .iter()
        .map(|(uri, probe)| match probe {
            Probe::Leads => format!("{uri}: leads"),
            Probe::Follows(status) => format!("{uri}: /leaderhealth answered {status}"),
            Probe::Unreachable(why) => format!("{uri}: {why}"),
        })
        .collect();
    let code = if probes
        .iter()
        .all(|(_, p)| matches!(p, Probe::Unreachable(_)))
    {
        ExitCode::NetworkError
    } else {
        ExitCode::CommandFailure
    };
    Err(CliError::new(
        code,
        format!(
            "no leading scheduler found for cluster {cluster}; asked:\n\t{}",
            tried.join("\n\t")
        ),
    ))
}

fn probe(http: &reqwest::blocking::Client, uri: &str) -> Probe {
    match http.get(format!("{uri}/leaderhealth")).send() {
        Ok(response) if response.status().is_success() => Probe::Leads,
        Ok(response) => Probe::Follows(response.status().as_u16()),
        Err(error) => Probe::Unreachable(root_cause(&error)),
    }
}

/// The leader's URL as the replica group at `uri` knows it, if it is replicated and knows.
fn leader_named_by(http: &reqwest::blocking::Client, uri: &str) -> Option<String> {
    let mut request = http.get(format!("{uri}/api/v1/replicas"));
    // The group is a read: sent with credentials when the client has some for this URI.
    if let Ok(Some(authorization)) = crate::client::authorization_for(uri) {
        request = request.header(reqwest::header::AUTHORIZATION, authorization);
    }
    let response = request.send().ok()?;
    if !response.status().is_success() {
        return None;
    }
    let group: Group = response.json().ok()?;
    group
        .replicas
        .into_iter()
        .find(|r| r.leader)
        .and_then(|r| r.url)
        .map(|url| url.trim_end_matches('/').to_string())
}

fn root_cause(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "no answer in time".into();
    }
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}
