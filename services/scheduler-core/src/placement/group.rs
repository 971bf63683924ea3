//! A pending group compiled against the cluster: its request with overhead, its constraints as
//! interned ids, and which agents it needs to look at.

use aurora_events::config::ConstraintKind;

use super::amounts::{self, Amounts};
use super::cluster::{Cluster, JobId, NameId, ValueId};
use super::{ExecutorOverhead, PendingGroup};

/// A value constraint: the host must (or, negated, must not) have one of `values`.
#[derive(Debug)]
pub(super) struct ValueCheck<'a> {
    pub(super) name: &'a str,
    /// `None`: no agent has the attribute, so no agent matches.
    pub(super) attribute: Option<NameId>,
    pub(super) negated: bool,
    /// Sorted; values no agent has are dropped (they can match nothing).
    pub(super) values: Vec<ValueId>,
}

/// A limit constraint: fewer than `limit` active tasks of the job per value of the attribute.
#[derive(Debug)]
pub(super) struct LimitCheck<'a> {
    pub(super) name: &'a str,
    pub(super) attribute: Option<NameId>,
    pub(super) limit: u32,
}

/// The agents a group walks, in cluster order.
#[derive(Debug)]
pub(super) enum Candidates {
    /// Every tree member (not dedicated, not draining), found through the fit tree.
    Tree,
    /// Exactly these positions, ascending: agents carrying a value the group requires.
    List(Vec<u32>),
}

#[derive(Debug)]
pub(super) struct Group<'a> {
    pub(super) pending: &'a PendingGroup<'a>,
    pub(super) job: JobId,
    /// Resources plus executor overhead.
    pub(super) request: Amounts,
    /// The task has a `dedicated` constraint, so dedicated hosts do not refuse it outright.
    pub(super) dedicated: bool,
    /// In config order; checked before `limits` (Aurora sorts value constraints first).
    pub(super) values: Vec<ValueCheck<'a>>,
    pub(super) limits: Vec<LimitCheck<'a>>,
    pub(super) candidates: Candidates,
}

/// A list is walked agent by agent, the tree skips full agents in O(log n): a list only pays
/// off when it is much shorter than the tree.
const LIST_MAX_SHARE_OF_TREE: usize = 4;

impl<'a> Group<'a> {
    pub(super) fn compile(
        pending: &'a PendingGroup<'a>,
        cluster: &mut Cluster<'a>,
        overhead: &ExecutorOverhead,
    ) -> Self {
        let config = pending.config;
        let job = cluster.job_id(&config.job);
        let mut values = Vec::new();
        let mut limits = Vec::new();
        for constraint in &config.constraints {
            let attribute = cluster.name_id(&constraint.name);
            match &constraint.kind {
                ConstraintKind::Value {
                    negated,
                    values: wanted,
                } => {
                    let mut ids: Vec<ValueId> =
                        wanted.iter().filter_map(|v| cluster.value_id(v)).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    values.push(ValueCheck {
                        name: &constraint.name,
                        attribute,
                        negated: *negated,
                        values: ids,
                    });
                }
                ConstraintKind::Limit { limit } => {
                    if let Some(name) = attribute {
                        cluster.track_limit(job, name);
                    }
                    limits.push(LimitCheck {
                        name: &constraint.name,
                        attribute,
                        limit: *limit,
                    });
                }
            }
        }
        let dedicated = config.is_dedicated();
        let candidates = choose_candidates(cluster, dedicated, &values);
        Self {
            pending,
            job,
            request: amounts::request(&config.resources, overhead),
            dedicated,
            values,
            limits,
            candidates,
        }
    }
}

/// Picks the cheapest walk that still visits every agent that could pass the filters.
///
/// A non-negated value constraint admits only agents carrying one of its values, so the union
/// of the index lists of those values covers every agent the group could use; the shortest such
/// union wins. Otherwise the tree covers them, unless the group is dedicated: dedicated hosts
/// are kept out of the tree, so a dedicated group without a usable value constraint (which
/// validation should prevent: a dedicated constraint is a one-value, non-negated value
/// constraint) walks every agent.
fn choose_candidates(
    cluster: &Cluster<'_>,
    dedicated: bool,
    values: &[ValueCheck<'_>],
) -> Candidates {
    let narrowest = values
        .iter()
        .filter(|check| !check.negated)
        .map(|check| {
            let size: usize = match check.attribute {
                Some(name) => check
                    .values
                    .iter()
                    .map(|value| cluster.with_value(name, *value).len())
                    .sum(),
                None => 0,
            };
            (size, check)
        })
        // The first of equally narrow constraints, so the choice follows config order.
        .min_by_key(|(size, _)| *size);
    match narrowest {
        Some((size, check))
            if dedicated || size * LIST_MAX_SHARE_OF_TREE <= cluster.tree_members() =>
        {
            let mut positions: Vec<u32> = match check.attribute {
                Some(name) => check
                    .values
                    .iter()
                    .flat_map(|value| cluster.with_value(name, *value).iter().copied())
                    .collect(),
                None => Vec::new(),
            };
            // An agent with two of the wanted values is in two lists.
            positions.sort_unstable();
            positions.dedup();
            Candidates::List(positions)
        }
        Some(_) | None if dedicated => Candidates::List((0..cluster.len() as u32).collect()),
        Some(_) | None => Candidates::Tree,
    }
}
