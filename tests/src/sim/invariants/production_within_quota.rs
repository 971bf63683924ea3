//! The production, non-dedicated tasks of a role never use more than its quota.

use std::collections::BTreeSet;

use aurora_scheduler_core::quota;

use super::Observed;

pub fn check(observed: &Observed<'_>) -> Result<(), String> {
    let state = observed.state;
    let roles: BTreeSet<_> = state
        .jobs_with_tasks()
        .map(|job| job.role.clone())
        .collect();
    for role in roles {
        let usage = quota::usage(state, &role);
        if !usage.prod_shared.fits_within(&usage.quota) {
            return Err(format!(
                "role {role} uses {:?} over its quota {:?}",
                usage.prod_shared, usage.quota
            ));
        }
    }
    Ok(())
}
