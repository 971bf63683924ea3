//! Cluster-wide pages: the home page (roles), a role's page (quota and jobs by environment),
//! quotas, and hosts by maintenance mode.

use std::collections::BTreeMap;

use crate::path::Path;
use crate::query::Query;
use askama::Template;
use aurora_events::{MaintenanceMode, ResourceAggregate, Seq};
use aurora_projections::{HostView, JobSummary, Queries, QuotaView, RoleSummary};
use axum::extract::State;
use axum::response::Response;

use super::{Layout, PageError, json, read, render, wants_json};
use crate::WebState;
use crate::format;
use crate::moment::AtQuery;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    layout: Layout,
    last_seq: Seq,
    roles: Vec<RoleSummary>,
}

pub async fn home(
    State(state): State<WebState>,
    Query(at): Query<AtQuery>,
) -> Result<Response, PageError> {
    let ((roles, last_seq), moment) =
        read(&state, "/scheduler", &at, |v| (v.roles(), v.last_seq())).await?;
    render(&Home {
        layout: moment.layout(&state, "Roles".into(), "jobs"),
        last_seq,
        roles,
    })
}

/// One resource of a quota table: the quota and the four usage buckets, formatted.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaRow {
    pub resource: &'static str,
    pub quota: String,
    pub prod_shared: String,
    pub non_prod_shared: String,
    pub prod_dedicated: String,
    pub non_prod_dedicated: String,
}

pub fn quota_rows(quota: &QuotaView) -> Vec<QuotaRow> {
    let row = |resource, show: &dyn Fn(&ResourceAggregate) -> String| QuotaRow {
        resource,
        quota: show(&quota.quota),
        prod_shared: show(&quota.prod_shared),
        non_prod_shared: show(&quota.non_prod_shared),
        prod_dedicated: show(&quota.prod_dedicated),
        non_prod_dedicated: show(&quota.non_prod_dedicated),
    };
    vec![
        row("CPU", &|r| format::cpus(r.cpus)),
        row("RAM", &|r| format::megabytes(r.ram_mb)),
        row("Disk", &|r| format::megabytes(r.disk_mb)),
    ]
}

#[derive(Template)]
#[template(path = "role.html")]
struct RolePage {
    layout: Layout,
    role: String,
    /// Set on an environment's page.
    environment: Option<String>,
    quota: Vec<QuotaRow>,
    /// Jobs by environment, environments by name.
    environments: BTreeMap<String, Vec<JobSummary>>,
}

pub async fn role(
    State(state): State<WebState>,
    Path(role): Path<String>,
    Query(at): Query<AtQuery>,
) -> Result<Response, PageError> {
    role_page(state, role, None, at).await
}

pub async fn environment(
    State(state): State<WebState>,
    Path((role, env)): Path<(String, String)>,
    Query(at): Query<AtQuery>,
) -> Result<Response, PageError> {
    role_page(state, role, Some(env), at).await
}

async fn role_page(
    state: WebState,
    role: String,
    environment: Option<String>,
    at: AtQuery,
) -> Result<Response, PageError> {
    let path = match &environment {
        Some(env) => format!("/scheduler/{role}/{env}"),
        None => format!("/scheduler/{role}"),
    };
    let name = role.clone();
    let (view, moment) = read(&state, &path, &at, move |v| v.role(&name)).await?;
    let view = view.ok_or_else(|| {
        PageError::not_found(format!(
            "no role named {role:?} has jobs or a quota{}",
            moment.when()
        ))
        .during(&moment)
    })?;
    let mut environments: BTreeMap<String, Vec<JobSummary>> = BTreeMap::new();
    for job in view.jobs {
        let env = job.job.environment.to_string();
        if environment.as_ref().is_none_or(|wanted| *wanted == env) {
            environments.entry(env).or_default().push(job);
        }
    }
    if let Some(env) = &environment
        && environments.is_empty()
    {
        return Err(PageError::not_found(format!(
            "role {role:?} has no jobs in environment {env:?}{}",
            moment.when()
        ))
        .during(&moment));
    }
    let title = match &environment {
        Some(env) => format!("{role}/{env}"),
        None => role.clone(),
    };
    render(&RolePage {
        layout: moment.layout(&state, title, "jobs"),
        role,
        environment,
        quota: quota_rows(&view.quota),
        environments,
    })
}

/// A role on the quotas page.
struct QuotaLine {
    role: String,
    quota: String,
    prod_shared: String,
    other: String,
}

#[derive(Template)]
#[template(path = "quotas.html")]
struct Quotas {
    layout: Layout,
    roles: Vec<QuotaLine>,
}

/// `/quotas`' own parameter: one role's quota (Aurora's `?role=`).
#[derive(Debug, serde::Deserialize)]
pub struct RoleQuery {
    role: Option<String>,
}

pub async fn quotas(
    State(state): State<WebState>,
    Query(at): Query<AtQuery>,
    Query(only): Query<RoleQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    let wanted_json = wants_json(&headers);
    let (roles, moment) = match read(&state, "/quotas", &at, |v| v.roles()).await {
        Ok(read) => read,
        Err(e) if wanted_json => return Ok(e.into_json()),
        Err(e) => return Err(e),
    };
    if wanted_json {
        // Aurora's shape: role → its allocated quota, roles without one left out.
        let quotas: serde_json::Map<String, serde_json::Value> = roles
            .iter()
            .filter(|r| {
                only.role
                    .as_deref()
                    .is_none_or(|role| r.role.as_str() == role)
            })
            .filter(|r| r.quota.quota != ResourceAggregate::default())
            .map(|r| {
                let q = &r.quota.quota;
                let bean = serde_json::json!({
                    "cpu_cores": q.cpus, "ram_mb": q.ram_mb, "disk_mb": q.disk_mb,
                });
                (r.role.to_string(), bean)
            })
            .collect();
        return Ok(json(&serde_json::Value::Object(quotas)));
    }
    let roles = roles
        .into_iter()
        .map(|r| {
            let q = &r.quota;
            let other = [
                ("non-prod", &q.non_prod_shared),
                ("prod dedicated", &q.prod_dedicated),
                ("non-prod dedicated", &q.non_prod_dedicated),
            ]
            .into_iter()
            .filter(|(_, usage)| **usage != ResourceAggregate::default())
            .map(|(bucket, usage)| format!("{bucket}: {}", format::resources(usage)))
            .collect::<Vec<_>>()
            .join("; ");
            QuotaLine {
                role: r.role.to_string(),
                quota: format::resources(&q.quota),
                prod_shared: format::resources(&q.prod_shared),
                other,
            }
        })
        .collect();
    render(&Quotas {
        layout: moment.layout(&state, "Quotas".into(), "quotas"),
        roles,
    })
}

/// Hosts in one maintenance mode.
struct ModeGroup {
    mode: String,
    hosts: Vec<HostView>,
}

#[derive(Template)]
#[template(path = "maintenance.html")]
struct Maintenance {
    layout: Layout,
    groups: Vec<ModeGroup>,
}

pub async fn maintenance(
    State(state): State<WebState>,
    Query(at): Query<AtQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    let wanted_json = wants_json(&headers);
    let (hosts, moment) = match read(&state, "/maintenance", &at, |v| v.hosts()).await {
        Ok(read) => read,
        Err(e) if wanted_json => return Ok(e.into_json()),
        Err(e) => return Err(e),
    };
    if wanted_json {
        // Aurora's shape: DRAINED and SCHEDULED hosts, and each DRAINING host's tasks that
        // still hold resources there.
        let named = |mode: MaintenanceMode| {
            hosts
                .iter()
                .filter(|h| h.mode == mode)
                .map(|h| h.host.clone())
                .collect::<Vec<_>>()
        };
        let draining: serde_json::Map<String, serde_json::Value> = hosts
            .iter()
            .filter(|h| h.mode == MaintenanceMode::Draining)
            .map(|h| (h.host.clone(), serde_json::json!(h.tasks)))
            .collect();
        return Ok(json(&serde_json::json!({
            "DRAINED": named(MaintenanceMode::Drained),
            "SCHEDULED": named(MaintenanceMode::Scheduled),
            "DRAINING": draining,
        })));
    }
    // Hosts leaving service first: that is what an operator opens this page for.
    let order = [
        MaintenanceMode::Draining,
        MaintenanceMode::Drained,
        MaintenanceMode::Scheduled,
        MaintenanceMode::None,
    ];
    let groups = order
        .into_iter()
        .map(|mode| ModeGroup {
            mode: mode.to_string(),
            hosts: hosts.iter().filter(|h| h.mode == mode).cloned().collect(),
        })
        .collect();
    render(&Maintenance {
        layout: moment.layout(&state, "Maintenance".into(), "maintenance"),
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_rows_format_each_bucket() {
        let quota = QuotaView {
            quota: ResourceAggregate {
                cpus: 10.0,
                ram_mb: 2048,
                disk_mb: 4096,
            },
            prod_shared: ResourceAggregate {
                cpus: 2.5,
                ram_mb: 512,
                disk_mb: 0,
            },
            ..QuotaView::default()
        };
        let rows = quota_rows(&quota);
        assert_eq!(rows[0].resource, "CPU");
        assert_eq!(rows[0].quota, "10");
        assert_eq!(rows[0].prod_shared, "2.5");
        assert_eq!(rows[1].quota, "2.0 GiB");
        assert_eq!(rows[1].prod_shared, "512 MiB");
        assert_eq!(rows[2].non_prod_dedicated, "0 MiB");
    }
}
