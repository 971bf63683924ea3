//! Unit tests of the pure planner: one decision per step, asserted whole.
use super::*;
use pretty_assertions::assert_eq;

fn spec(name: &str) -> ProcessSpec {
    ProcessSpec {
        name: name.to_string(),
        max_failures: 1,
        daemon: false,
        ephemeral: false,
        min_duration: Duration::ZERO,
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn start(names: &[&str]) -> Decision {
    Decision {
        start: names.iter().map(|n| n.to_string()).collect(),
        outcome: None,
        wake_at: None,
    }
}

fn ended(outcome: Outcome) -> Decision {
    Decision {
        start: Vec::new(),
        outcome: Some(outcome),
        wake_at: None,
    }
}

fn run(plan: &mut Plan, name: &str, now: Duration) {
    plan.forked(name, now);
    plan.running(name);
}

#[test]
fn processes_start_in_parallel_and_the_plan_succeeds() {
    let mut plan = Plan::new(vec![spec("a"), spec("b")], &[], 0, 1);
    assert_eq!(plan.decide(secs(0)), start(&["a", "b"]));
    run(&mut plan, "a", secs(0));
    run(&mut plan, "b", secs(0));
    assert_eq!(plan.decide(secs(0)), Decision::default());
    plan.exited("a", true);
    assert_eq!(plan.decide(secs(1)), Decision::default());
    plan.exited("b", true);
    assert_eq!(plan.decide(secs(1)), ended(Outcome::Success));
}

#[test]
fn max_concurrency_limits_active_processes() {
    let mut plan = Plan::new(vec![spec("a"), spec("b"), spec("c")], &[], 2, 1);
    assert_eq!(plan.decide(secs(0)), start(&["a", "b"]));
    run(&mut plan, "a", secs(0));
    run(&mut plan, "b", secs(0));
    assert_eq!(plan.decide(secs(0)), Decision::default());
    plan.exited("b", true);
    assert_eq!(plan.decide(secs(1)), start(&["c"]));
}

#[test]
fn ordering_starts_a_process_after_its_predecessor_succeeded() {
    let order = vec![vec!["a".to_string(), "b".to_string()]];
    let mut plan = Plan::new(vec![spec("b"), spec("a")], &order, 0, 1);
    assert_eq!(plan.decide(secs(0)), start(&["a"]));
    run(&mut plan, "a", secs(0));
    assert_eq!(plan.decide(secs(0)), Decision::default());
    plan.exited("a", true);
    assert_eq!(plan.decide(secs(1)), start(&["b"]));
}

#[test]
fn failed_runs_are_retried_after_min_duration_then_the_process_fails() {
    let mut bad = spec("bad");
    bad.max_failures = 2;
    bad.min_duration = secs(5);
    let mut plan = Plan::new(vec![bad], &[], 0, 1);
    run(&mut plan, "bad", secs(0));
    plan.exited("bad", false);
    assert_eq!(plan.state("bad"), Some(ProcessState::Waiting));
    assert_eq!(
        plan.decide(secs(1)),
        Decision {
            start: Vec::new(),
            outcome: None,
            wake_at: Some(secs(5)),
        }
    );
    assert_eq!(plan.decide(secs(5)), start(&["bad"]));
    run(&mut plan, "bad", secs(5));
    plan.exited("bad", false);
    assert_eq!(plan.state("bad"), Some(ProcessState::Failed));
    assert_eq!(plan.runs("bad"), Some(2));
    assert_eq!(
        plan.decide(secs(6)),
        ended(Outcome::Failed {
            message: "process 'bad' failed permanently (task max_failures 1)".into()
        })
    );
}

#[test]
fn zero_max_failures_retries_forever() {
    let mut p = spec("p");
    p.max_failures = 0;
    let mut plan = Plan::new(vec![p], &[], 0, 1);
    for i in 0..50 {
        assert_eq!(plan.decide(secs(i)), start(&["p"]));
        run(&mut plan, "p", secs(i));
        plan.exited("p", false);
    }
    assert_eq!(plan.state("p"), Some(ProcessState::Waiting));
}

#[test]
fn task_max_failures_two_tolerates_one_failed_process() {
    let mut plan = Plan::new(vec![spec("a"), spec("b")], &[], 0, 2);
    run(&mut plan, "a", secs(0));
    run(&mut plan, "b", secs(0));
    plan.exited("a", false);
    assert_eq!(plan.decide(secs(1)), Decision::default());
    plan.exited("b", true);
    assert_eq!(plan.decide(secs(1)), ended(Outcome::Success));
}

#[test]
fn task_max_failures_zero_never_fails_for_failed_processes() {
    let mut plan = Plan::new(vec![spec("a"), spec("b")], &[], 0, 0);
    run(&mut plan, "a", secs(0));
    run(&mut plan, "b", secs(0));
    plan.exited("a", false);
    plan.exited("b", false);
    assert_eq!(plan.decide(secs(1)), ended(Outcome::Success));
}

#[test]
fn a_process_after_a_failed_one_never_runs_and_the_plan_fails() {
    let order = vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]];
    let mut plan = Plan::new(vec![spec("a"), spec("b"), spec("c")], &order, 0, 2);
    run(&mut plan, "a", secs(0));
    plan.exited("a", false);
    assert_eq!(
        plan.decide(secs(1)),
        ended(Outcome::Failed {
            message: "process 'b' can never run: it is ordered after 'a', which is Failed".into()
        })
    );
}

#[test]
fn an_ordering_cycle_fails_the_plan() {
    let order = vec![vec!["a".to_string(), "b".to_string(), "a".to_string()]];
    let plan = Plan::new(vec![spec("a"), spec("b")], &order, 0, 1);
    assert_eq!(
        plan.decide(secs(0)),
        ended(Outcome::Failed {
            message: "process 'a' can never run: it waits on a blocked process or an \
                      ordering cycle"
                .into()
        })
    );
}

#[test]
fn a_daemon_is_rerun_after_success_and_keeps_the_plan_going() {
    let mut d = spec("d");
    d.daemon = true;
    d.min_duration = secs(2);
    let mut plan = Plan::new(vec![d], &[], 0, 1);
    run(&mut plan, "d", secs(0));
    plan.exited("d", true);
    assert_eq!(plan.state("d"), Some(ProcessState::Waiting));
    assert_eq!(
        plan.decide(secs(1)),
        Decision {
            start: Vec::new(),
            outcome: None,
            wake_at: Some(secs(2)),
        }
    );
    assert_eq!(plan.decide(secs(2)), start(&["d"]));
}

#[test]
fn ephemeral_processes_are_not_required() {
    let mut side = spec("side");
    side.ephemeral = true;
    side.daemon = true;
    let mut plan = Plan::new(vec![spec("main"), side], &[], 0, 1);
    assert_eq!(plan.decide(secs(0)), start(&["main", "side"]));
    run(&mut plan, "main", secs(0));
    run(&mut plan, "side", secs(0));
    plan.exited("main", true);
    assert_eq!(plan.decide(secs(1)), ended(Outcome::Success));
    assert_eq!(plan.active(), vec!["side".to_string()]);
}

#[test]
fn an_empty_plan_is_complete() {
    let plan = Plan::new(Vec::new(), &[], 0, 1);
    assert_eq!(plan.decide(secs(0)), ended(Outcome::Success));
}

#[test]
fn ordering_with_names_outside_the_plan_is_ignored() {
    let order = vec![vec!["main".to_string(), "fin".to_string()]];
    let plan = Plan::new(vec![spec("fin")], &order, 0, 1);
    assert_eq!(plan.decide(secs(0)), start(&["fin"]));
}
