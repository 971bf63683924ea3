//! Parsing what requests carry in their query strings: task states and instance specs. Each
//! refuses what it cannot read with a 400 naming the input, and bounds the work an input can
//! ask for before doing any. Public so that the fuzz targets (`ops/fuzz`) can reach them.

use std::collections::BTreeSet;

use aurora_events::{InstanceId, ScheduleStatus, UpdateStatus};

use super::Failure;

/// Parses comma-separated task states (`RUNNING,PENDING`, any case).
pub fn statuses(text: &str) -> Result<BTreeSet<ScheduleStatus>, Failure> {
    states(text, "task")
}

/// Parses comma-separated update states (`ROLLING_FORWARD,ROLLED_BACK`, any case).
pub fn update_statuses(text: &str) -> Result<BTreeSet<UpdateStatus>, Failure> {
    states(text, "update")
}

/// Comma-separated names of a state enum, any case, naming the first it does not know.
fn states<S: std::str::FromStr + Ord>(text: &str, what: &str) -> Result<BTreeSet<S>, Failure> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.to_ascii_uppercase()
                .parse::<S>()
                .map_err(|_| Failure::invalid(format!("unknown {what} state {s:?}")))
        })
        .collect()
}

/// Most instances one spec may name, and most ranges it may list: a job has at most 4,000
/// instances by default, and a spec is checked before anything is read, so one request cannot
/// make the scheduler build millions of ids.
const MAX_SPEC_INSTANCES: u64 = 100_000;
const MAX_SPEC_RANGES: usize = 1_000;

/// Parses `0-2,5` into instance ids.
pub fn instances(text: &str) -> Result<BTreeSet<InstanceId>, Failure> {
    let bad = || Failure::invalid(format!("invalid instance spec {text:?}: use e.g. 0-2,5"));
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() > MAX_SPEC_RANGES {
        return Err(Failure::invalid(format!(
            "instance spec lists {} ranges; at most {MAX_SPEC_RANGES} are accepted",
            parts.len()
        )));
    }
    let mut ranges = Vec::with_capacity(parts.len());
    let mut total = 0u64;
    for part in parts {
        let (first, last): (InstanceId, InstanceId) = match part.split_once('-') {
            Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
            None => {
                let one: InstanceId = part.parse().map_err(|_| bad())?;
                (one, one)
            }
        };
        if first > last {
            return Err(bad());
        }
        total = total.saturating_add(u64::from(last - first) + 1);
        if total > MAX_SPEC_INSTANCES {
            return Err(Failure::invalid(format!(
                "an instance spec may name at most {MAX_SPEC_INSTANCES} instances; this one \
                 names more"
            )));
        }
        ranges.push((first, last));
    }
    let mut instances = BTreeSet::new();
    for (first, last) in ranges {
        instances.extend(first..=last);
    }
    Ok(instances)
}
