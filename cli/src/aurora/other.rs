//! `quota get CLUSTER/ROLE`, in Aurora's text and JSON (`GetQuotaCmd` in `quota.py`).

use aurora_api::QuotaView;
use aurora_events::ResourceAggregate;
use serde::Serialize;

use crate::context::Context;
use crate::exit::{CliError, CliResult};
use crate::pyfmt;

pub(super) fn quota_get(ctx: &Context, key: &str, json: bool, at: Option<&str>) -> CliResult {
    let (cluster, role) = key
        .split_once('/')
        .filter(|(c, r)| !c.is_empty() && !r.is_empty() && !r.contains('/'))
        .ok_or_else(|| CliError::invalid_parameter(format!("{key:?}: expected CLUSTER/ROLE")))?;
    let client = ctx.client(cluster)?;
    let path = crate::time::with_at(&format!("/api/v1/quota/{role}"), at)
        .map_err(CliError::invalid_parameter)?;
    let quota: QuotaView = client.get(&path)?;
    if json {
        // Aurora prints thrift's simple JSON on one line.
        let text = serde_json::to_string(&QuotaJson::from(&quota))
            .map_err(|e| CliError::failure(format!("cannot render JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    println!("{}", render_quota(&quota));
    Ok(())
}

/// Aurora's `quota get` text: the allocation, then the four consumption buckets (the
/// scheduler always sends all four), one resource per line.
fn render_quota(quota: &QuotaView) -> String {
    let block = |title: &str, r: &ResourceAggregate| {
        format!(
            "{title}:\n  CPU: {} core(s)\n  RAM: {} MB\n  Disk: {} MB",
            pyfmt::float(r.cpus),
            r.ram_mb,
            r.disk_mb
        )
    };
    [
        block("Allocated", &quota.quota),
        block(
            "Production shared pool resources consumed",
            &quota.prod_shared,
        ),
        block(
            "Production dedicated pool resources consumed",
            &quota.prod_dedicated,
        ),
        block(
            "Non-production shared pool resources consumed",
            &quota.non_prod_shared,
        ),
        block(
            "Non-production dedicated pool resources consumed",
            &quota.non_prod_dedicated,
        ),
    ]
    .join("\n")
}

/// Aurora's `GetQuotaResult` in thrift's simple JSON (fields in id order).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct QuotaJson {
    quota: Aggregate,
    prod_shared_consumption: Aggregate,
    non_prod_shared_consumption: Aggregate,
    prod_dedicated_consumption: Aggregate,
    non_prod_dedicated_consumption: Aggregate,
}

/// `ResourceAggregate{resources: set<Resource>}`.
#[derive(Debug, Serialize)]
struct Aggregate {
    resources: [Resource; 3],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum Resource {
    NumCpus(f64),
    RamMb(u64),
    DiskMb(u64),
}

impl From<&ResourceAggregate> for Aggregate {
    fn from(r: &ResourceAggregate) -> Self {
        Aggregate {
            resources: [
                Resource::NumCpus(r.cpus),
                Resource::RamMb(r.ram_mb),
                Resource::DiskMb(r.disk_mb),
            ],
        }
    }
}

impl From<&QuotaView> for QuotaJson {
    fn from(q: &QuotaView) -> Self {
        QuotaJson {
            quota: (&q.quota).into(),
            prod_shared_consumption: (&q.prod_shared).into(),
            non_prod_shared_consumption: (&q.non_prod_shared).into(),
            prod_dedicated_consumption: (&q.prod_dedicated).into(),
            non_prod_dedicated_consumption: (&q.non_prod_dedicated).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota() -> QuotaView {
        let r = |cpus, ram_mb, disk_mb| ResourceAggregate {
            cpus,
            ram_mb,
            disk_mb,
        };
        QuotaView {
            quota: r(4.0, 4096, 8192),
            prod_shared: r(0.1 + 0.2, 256, 512),
            non_prod_shared: r(0.5, 128, 128),
            prod_dedicated: r(0.0, 0, 0),
            non_prod_dedicated: r(0.0, 0, 0),
        }
    }

    #[test]
    fn text_matches_aurora_line_for_line() {
        assert_eq!(
            render_quota(&quota()),
            "\
Allocated:
  CPU: 4.0 core(s)
  RAM: 4096 MB
  Disk: 8192 MB
Production shared pool resources consumed:
  CPU: 0.3 core(s)
  RAM: 256 MB
  Disk: 512 MB
Production dedicated pool resources consumed:
  CPU: 0.0 core(s)
  RAM: 0 MB
  Disk: 0 MB
Non-production shared pool resources consumed:
  CPU: 0.5 core(s)
  RAM: 128 MB
  Disk: 128 MB
Non-production dedicated pool resources consumed:
  CPU: 0.0 core(s)
  RAM: 0 MB
  Disk: 0 MB"
        );
    }

    #[test]
    fn json_is_aurora_get_quota_result() {
        let text = serde_json::to_string(&QuotaJson::from(&quota())).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"quota":{"resources":[{"numCpus":4.0},{"ramMb":4096},{"diskMb":8192}]},"#,
                r#""prodSharedConsumption":{"resources":[{"numCpus":0.30000000000000004},{"ramMb":256},{"diskMb":512}]},"#,
                r#""nonProdSharedConsumption":{"resources":[{"numCpus":0.5},{"ramMb":128},{"diskMb":128}]},"#,
                r#""prodDedicatedConsumption":{"resources":[{"numCpus":0.0},{"ramMb":0},{"diskMb":0}]},"#,
                r#""nonProdDedicatedConsumption":{"resources":[{"numCpus":0.0},{"ramMb":0},{"diskMb":0}]}}"#
            )
        );
    }
}
