//! The filter (Aurora's `SchedulingFilterImpl`): may this agent take one task of this group
//! now? And, for a group nobody took, which agent came nearest.

use aurora_events::MaintenanceMode;

use super::amounts::{self, ResourceKind};
use super::cluster::{AgentState, Cluster};
use super::group::Group;
use super::reason::{MAX_SCORE, PendingReason, Veto};

/// The first failing step for one task of `group` on the agent at `pos`, or `None` when the
/// agent can take it. Steps in Aurora's order: dedicated host, maintenance, value constraints,
/// limit constraints, resources.
pub(super) fn veto<'a>(cluster: &Cluster<'_>, group: &Group<'a>, pos: usize) -> Option<Veto<'a>> {
    let agent = cluster.agent(pos);
    if agent.dedicated && !group.dedicated {
        return Some(Veto::DedicatedHost);
    }
    match agent.slot.mode {
        MaintenanceMode::None | MaintenanceMode::Scheduled => {}
        MaintenanceMode::Draining => return Some(Veto::Draining),
        MaintenanceMode::Drained => return Some(Veto::Drained),
    }
    for check in &group.values {
        // A host without the attribute has no value to match (so a negated constraint holds).
        let present = check
            .attribute
            .and_then(|name| agent.values(name))
            .is_some_and(|have| have.iter().any(|v| check.values.binary_search(v).is_ok()));
        if present == check.negated {
            return Some(Veto::Constraint(check.name));
        }
    }
    for check in &group.limits {
        let Some((name, have)) = check
            .attribute
            .and_then(|name| agent.values(name).map(|have| (name, have)))
        else {
            return Some(Veto::Constraint(check.name));
        };
        if have
            .iter()
            .any(|value| cluster.limit_count(group.job, name, *value) >= check.limit)
        {
            return Some(Veto::Limit(check.name));
        }
    }
    let short = amounts::shortfall_mask(&group.request, &agent.free);
    (short != 0).then_some(Veto::Insufficient(short))
}

/// The pending reason for a group no agent can take: the vetoes of the agent with the fewest
/// vetoes, then the lowest score, then the earliest in the cluster order (Aurora's
/// `NearestFit`). One pass over every agent, done once per group that runs out of agents.
pub(super) fn nearest(cluster: &Cluster<'_>, group: &Group<'_>) -> PendingReason {
    let mut best: Option<((u32, u64), Veto<'_>)> = None;
    for pos in 0..cluster.len() {
        let Some(veto) = veto(cluster, group, pos) else {
            // Unreachable: the caller found no agent for this group, and nothing frees up
            // during a pass.
            continue;
        };
        let rank = (veto.count(), score(&veto, group, cluster.agent(pos)));
        if best.as_ref().is_none_or(|(best_rank, _)| rank < *best_rank) {
            best = Some((rank, veto));
        }
    }
    best.map_or(PendingReason::NoAgents, |(_, veto)| veto.reason())
}

/// How bad a veto is, for ranking agents with as many vetoes: a short resource scores its
/// shortfall as a share of the request, up to [`MAX_SCORE`]; anything else scores the maximum.
fn score(veto: &Veto<'_>, group: &Group<'_>, agent: &AgentState<'_>) -> u64 {
    match veto {
        Veto::Insufficient(mask) => ResourceKind::ALL
            .into_iter()
            .filter(|kind| mask & (1 << kind.index()) != 0)
            .map(|kind| {
                let want = u128::from(group.request[kind.index()]);
                let have = u128::from(agent.free[kind.index()]);
                let missing = want.saturating_sub(have);
                let scaled = (missing * u128::from(MAX_SCORE)).div_ceil(want.max(1));
                u64::try_from(scaled).unwrap_or(MAX_SCORE).min(MAX_SCORE)
            })
            .sum(),
        Veto::DedicatedHost
        | Veto::Draining
        | Veto::Drained
        | Veto::Constraint(_)
        | Veto::Limit(_) => MAX_SCORE,
    }
}
