//! Router tests of the update pages: a nine-instance job updated in batches of three that fails
//! on instance 8 and rolls back, read live and `?at=` moments along the way; a kill-only
//! update, a restart, a pruned update, escaping, and the size of a 4,000-instance page.

#[path = "../../projections/views/tests/common/mod.rs"]
mod script;

use std::collections::BTreeMap;
use std::sync::Arc;

use aurora_events::update::{
    InstanceConfigRanges, InstanceRange, UpdateInstructions, UpdateSettings, UpdateStrategy,
};
use aurora_events::{
    Actor, ConfigHash, Event, InstanceUpdateAction, Seq, Tier, UpdateKey, UpdateStatus, Uuid,
};
use aurora_projections::{HistoryConfig, ReadModel};
use aurora_web::{WebState, app};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use script::{Script, config, job};
use tower::ServiceExt;

use InstanceUpdateAction::*;

const XSS: &str = "<script>alert(1)</script>";

fn range(first: u32, last: u32) -> InstanceRange {
    InstanceRange { first, last }
}

fn settings(strategy: UpdateStrategy) -> UpdateSettings {
    UpdateSettings {
        strategy,
        max_per_instance_failures: 0,
        max_failed_instances: 0,
        min_wait_in_instance_running_ms: 30_000,
        rollback_on_failure: true,
        update_only_these_instances: Vec::new(),
        block_if_no_pulses_after_ms: None,
        sla_aware: false,
    }
}

fn batches_of_three() -> UpdateStrategy {
    UpdateStrategy::Batch {
        group_size: 3,
        autopause_after_batch: false,
    }
}

fn update_key(name: &str, n: u128) -> UpdateKey {
    UpdateKey {
        job: job("www", "prod", name),
        id: Uuid::from_u128(n),
    }
}

fn start(
    s: &mut Script,
    update: &UpdateKey,
    initial: Vec<InstanceConfigRanges>,
    desired: Option<InstanceConfigRanges>,
    strategy: UpdateStrategy,
) -> Seq {
    s.push(Event::UpdateStarted {
        update: update.clone(),
        user: "alice".into(),
        instructions: UpdateInstructions {
            initial_state: initial,
            desired_state: desired,
            settings: settings(strategy),
        },
        metadata: BTreeMap::from([
            ("ticket".to_string(), "OPS-42".to_string()),
            ("note".to_string(), XSS.to_string()),
        ]),
    })
}

fn act(s: &mut Script, update: &UpdateKey, instance: u32, action: InstanceUpdateAction) -> Seq {
    s.after(1000).push(Event::UpdateInstanceActioned {
        update: update.clone(),
        instance,
        action,
        message: None,
    })
}

fn change(
    s: &mut Script,
    update: &UpdateKey,
    from: UpdateStatus,
    to: UpdateStatus,
    message: &str,
) -> Seq {
    s.after(1000).push(Event::UpdateStateChanged {
        update: update.clone(),
        from,
        to,
        message: Some(message.to_string()),
    })
}

/// The rolled-back update and its moments.
struct World {
    script: Script,
    update: UpdateKey,
    /// Instances 0-5 updated, 6-8 untouched.
    forward_done: Seq,
    /// Instance 8 failed; still rolling forward.
    failed: Seq,
    /// Rolling back: 8 and 7 rolled back, 6 rolling back.
    rolling_back: Seq,
    /// The kill-only update (finished) and the restart.
    kill: UpdateKey,
    restart: UpdateKey,
}

fn world() -> World {
    let mut s = Script::new();
    s.push(Event::ClusterInitialised {
        cluster: "devcluster".into(),
    });
    s.by(Actor::User("alice".into()));
    let key = job("www", "prod", "web");
    let mut old = config(&key, Tier::Preferred, 1.0, 128, false);
    old.executor.processes[0].cmdline = "./server --v1".into();
    let mut new = old.clone();
    new.executor.processes[0].cmdline = "./server --v2".into();
    let (old_hash, _) = s.create_job(&old, 9);
    let new_hash = s.store(&new);

    let update = update_key("web", 1);
    s.after(1000);
    start(
        &mut s,
        &update,
        vec![InstanceConfigRanges {
            config: old_hash,
            instances: vec![range(0, 8)],
        }],
        Some(InstanceConfigRanges {
            config: new_hash,
            instances: vec![range(0, 8)],
        }),
        batches_of_three(),
    );
    s.by(Actor::Scheduler);
    for batch in [[0, 1, 2], [3, 4, 5]] {
        for i in batch {
            act(&mut s, &update, i, InstanceUpdating);
        }
        for i in batch {
            act(&mut s, &update, i, InstanceUpdated);
        }
    }
    let forward_done = s.last_seq();
    for i in [6, 7, 8] {
        act(&mut s, &update, i, InstanceUpdating);
    }
    let failed = s.after(1000).push(Event::UpdateInstanceActioned {
        update: update.clone(),
        instance: 8,
        action: InstanceUpdateFailed,
        message: Some(format!("{XSS} exited with status 1")),
    });
    change(
        &mut s,
        &update,
        UpdateStatus::RollingForward,
        UpdateStatus::RollingBack,
        "Latest failure: instance 8 exited.",
    );
    for i in [8, 7, 6] {
        act(&mut s, &update, i, InstanceRollingBack);
    }
    act(&mut s, &update, 8, InstanceRolledBack);
    let rolling_back = act(&mut s, &update, 7, InstanceRolledBack);
    act(&mut s, &update, 6, InstanceRolledBack);
    for i in [5, 4, 3, 2, 1, 0] {
        act(&mut s, &update, i, InstanceRollingBack);
        act(&mut s, &update, i, InstanceRolledBack);
    }
    change(
        &mut s,
        &update,
        UpdateStatus::RollingBack,
        UpdateStatus::RolledBack,
        "",
    );

    // A job whose instances are all killed by an update, then one restarted.
    let (gone_hash, _) = s.create_job(
        &config(&job("www", "prod", "gone"), Tier::Preferred, 1.0, 64, false),
        3,
    );
    let kill = update_key("gone", 2);
    start(
        &mut s,
        &kill,
        vec![InstanceConfigRanges {
            config: gone_hash,
            instances: vec![range(0, 2)],
        }],
        None,
        UpdateStrategy::Queue { group_size: 2 },
    );
    change(
        &mut s,
        &kill,
        UpdateStatus::RollingForward,
        UpdateStatus::RolledForward,
        "",
    );
    let restart = update_key("gone", 3);
    let same = InstanceConfigRanges {
        config: gone_hash,
        instances: vec![range(0, 2)],
    };
    start(
        &mut s,
        &restart,
        vec![same.clone()],
        Some(same),
        batches_of_three(),
    );
    World {
        script: s,
        update,
        forward_done,
        failed,
        rolling_back,
        kill,
        restart,
    }
}

fn web_state(script: &Script) -> WebState {
    let read = Arc::new(ReadModel::in_memory(HistoryConfig {
        checkpoint_every: 8,
        ..HistoryConfig::default()
    }));
    read.apply(script.envelopes());
    WebState {
        cluster: "devcluster".into(),
        read,
        warning: None,
        cron_zone: jiff::tz::TimeZone::UTC,
        executor_overhead: aurora_web::DEFAULT_EXECUTOR_OVERHEAD,
    }
}

async fn get(state: &WebState, uri: &str) -> (StatusCode, String) {
    let response = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("router answers");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    (status, String::from_utf8(body.to_vec()).expect("utf-8"))
}

async fn page(state: &WebState, uri: &str) -> String {
    let (status, body) = get(state, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

fn uri(update: &UpdateKey) -> String {
    format!("/updates/{}/{}", update.job, update.id)
}

/// The text between `from` and the next `to` after it.
fn between<'a>(page: &'a str, from: &str, to: &str) -> &'a str {
    let start = page
        .find(from)
        .unwrap_or_else(|| panic!("{from:?} in {page}"))
        + from.len();
    let end = page[start..]
        .find(to)
        .unwrap_or_else(|| panic!("{to:?} after {from:?}"));
    &page[start..start + end]
}

/// The instance cells, batch by batch: (instance, class), checking each cell's title and text.
fn cells(page: &str) -> Vec<Vec<(u32, String)>> {
    let grid = between(page, "id=\"update-instances\">", "</ol></li></ol>");
    grid.split("<li><ol>")
        .filter(|batch| !batch.is_empty())
        .map(|batch| {
            batch
                .split("<li class=\"")
                .skip(1)
                .map(|cell| {
                    let (class, rest) = cell.split_once("\" title=\"instance ").expect("title");
                    let (instance, rest) = rest.split_once(": ").expect("title's instance");
                    let text = between(rest, "\">", "</li>");
                    assert_eq!(text, instance, "the cell shows its instance");
                    (instance.parse().expect("instance"), class.to_string())
                })
                .collect()
        })
        .collect()
}

fn drawn(batches: &[&[(u32, &str)]]) -> Vec<Vec<(u32, String)>> {
    batches
        .iter()
        .map(|b| b.iter().map(|(i, c)| (*i, c.to_string())).collect())
        .collect()
}

/// Rows of the table with `id`, as the text of their cells.
fn rows(page: &str, id: &str) -> Vec<Vec<String>> {
    let table = between(page, &format!("id=\"{id}\">"), "</table>");
    let body = between(table, "<tbody>", "</tbody>");
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let inner = &cell[cell.find('>').map_or(0, |i| i + 1)..];
                    let inner = inner.split("</td>").next().unwrap_or_default();
                    strip_tags(inner)
                })
                .collect()
        })
        .collect()
}

fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

#[tokio::test]
async fn a_rolled_back_update_shows_its_instances_in_rollback_order() {
    let world = world();
    let state = web_state(&world.script);
    let body = page(&state, &uri(&world.update)).await;
    assert!(body.contains(">ROLLED_BACK</strong>"), "{body}");
    let rolled = |i| (i, "rolled-back");
    assert_eq!(
        cells(&body),
        drawn(&[
            &[rolled(8), rolled(7), rolled(6)],
            &[rolled(5), rolled(4), rolled(3)],
            &[rolled(2), rolled(1), rolled(0)],
        ])
    );
    assert!(
        body.contains("ol class=\"batches grouped\""),
        "batches are framed"
    );
    assert!(
        body.contains("rolled back <span class=\"count\">(9)</span>"),
        "legend counts"
    );

    // Mid-rollback: the order is already reversed; the cells show each latest action.
    let mid = page(
        &state,
        &format!("{}?at={}", uri(&world.update), world.rolling_back),
    )
    .await;
    assert!(mid.contains(">ROLLING_BACK</strong>"), "{mid}");
    assert_eq!(
        cells(&mid),
        drawn(&[
            &[(8, "rolled-back"), (7, "rolled-back"), (6, "rolling-back")],
            &[(5, "updated"), (4, "updated"), (3, "updated")],
            &[(2, "updated"), (1, "updated"), (0, "updated")],
        ])
    );
}

#[tokio::test]
async fn past_moments_show_fewer_actions_in_forward_order() {
    let world = world();
    let state = web_state(&world.script);
    let at_failure = page(
        &state,
        &format!("{}?at={}", uri(&world.update), world.failed),
    )
    .await;
    assert!(
        at_failure.contains(">ROLLING_FORWARD</strong>"),
        "{at_failure}"
    );
    let updated = |i| (i, "updated");
    assert_eq!(
        cells(&at_failure),
        drawn(&[
            &[updated(0), updated(1), updated(2)],
            &[updated(3), updated(4), updated(5)],
            &[(6, "updating"), (7, "updating"), (8, "failed")],
        ])
    );
    let earlier = page(
        &state,
        &format!("{}?at={}", uri(&world.update), world.forward_done),
    )
    .await;
    assert_eq!(
        cells(&earlier),
        drawn(&[
            &[updated(0), updated(1), updated(2)],
            &[updated(3), updated(4), updated(5)],
            &[(6, "untouched"), (7, "untouched"), (8, "untouched")],
        ])
    );
    let events = |page: &str| rows(page, "instance-events").len();
    assert_eq!(events(&earlier), 12);
    assert_eq!(events(&at_failure), 16);
    assert_eq!(events(&page(&state, &uri(&world.update)).await), 34);
    // Links on a past page stay in the past.
    assert!(earlier.contains(&format!(
        "href=\"/scheduler/www/prod/web?at={}\"",
        world.forward_done
    )));
}

#[tokio::test]
async fn the_update_page_words_its_settings_status_and_metadata() {
    let world = world();
    let state = web_state(&world.script);
    let body = page(&state, &uri(&world.update)).await;
    let settings = strip_tags(between(&body, "id=\"update-settings\">", "</dl>"));
    for expected in [
        "batches of 3 instances, each done before the next starts",
        "none: an instance that fails once is failed",
        "none: the first failed instance fails the update",
        "30.0 s: an instance counts as updated once it has been RUNNING this long",
        "yes: a failed update rolls the instances back to their old config",
        "every instance the update changes",
    ] {
        assert!(settings.contains(expected), "{expected:?} in {settings}");
    }
    assert!(
        !settings.contains("Pulses"),
        "no pulse interval: {settings}"
    );
    let summary = strip_tags(between(&body, "id=\"update-summary\">", "</dl>"));
    assert!(summary.contains("by alice"), "{summary}");
    assert!(
        summary.contains("ROLLED_BACK since 2026-01-01"),
        "{summary}"
    );
    assert!(summary.contains("instances 0-8 on config"), "{summary}");
    let metadata = between(&body, "id=\"update-metadata\">", "</dl>");
    assert!(
        metadata.contains("<dt>ticket</dt><dd>OPS-42</dd>"),
        "{metadata}"
    );

    let states = rows(&body, "update-states");
    let statuses: Vec<&str> = states.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(
        statuses,
        vec!["ROLLED_BACK", "ROLLING_BACK", "ROLLING_FORWARD"],
        "newest first"
    );
    assert_eq!(states[1][3], "scheduler");
    assert_eq!(states[1][4], "Latest failure: instance 8 exited.");
    assert_eq!(states[2][3], "user:alice");

    let events = rows(&body, "instance-events");
    assert_eq!(
        events[0][2..4],
        ["0".to_string(), "INSTANCE_ROLLED_BACK".to_string()]
    );
    let failure = events
        .iter()
        .find(|r| r[3] == "INSTANCE_UPDATE_FAILED")
        .expect("the failure is listed");
    assert_eq!(failure[2], "8");
    assert!(failure[5].contains("exited with status 1"), "{failure:?}");
    let seqs: Vec<u64> = events.iter().map(|r| r[0].parse().expect("seq")).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
}

#[tokio::test]
async fn the_diff_shows_the_changed_command_line() {
    let world = world();
    let state = web_state(&world.script);
    let body = page(&state, &uri(&world.update)).await;
    let changes = between(&body, "id=\"update-changes\">", "</div>");
    assert!(
        changes.contains("updates instances 0-8 from config"),
        "{changes}"
    );
    let lines: Vec<(String, String)> = changes
        .split("<span class=\"")
        .skip(1)
        .map(|line| {
            let (class, rest) = line.split_once("\">").expect("class");
            (
                class.to_string(),
                rest.split("</span>").next().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let removed: Vec<&(String, String)> = lines.iter().filter(|(c, _)| c == "removed").collect();
    let added: Vec<&(String, String)> = lines.iter().filter(|(c, _)| c == "added").collect();
    assert_eq!(removed.len(), 1, "{lines:?}");
    assert_eq!(added.len(), 1, "{lines:?}");
    assert!(
        removed[0].1.starts_with("- ") && removed[0].1.contains("./server --v1"),
        "{lines:?}"
    );
    assert!(
        added[0].1.starts_with("+ ") && added[0].1.contains("./server --v2"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|(c, _)| c == "same"), "context lines");
    assert!(
        lines
            .iter()
            .any(|(c, t)| c == "folded" && t.contains("unchanged lines"))
    );
}

#[tokio::test]
async fn kill_only_updates_and_restarts_say_so() {
    let world = world();
    let state = web_state(&world.script);
    let kill = page(&state, &uri(&world.kill)).await;
    assert!(
        kill.contains("none: the update only kills instances"),
        "{kill}"
    );
    let changes = between(&kill, "id=\"update-changes\">", "</div>");
    assert!(changes.contains("kills instances 0-2 (config"), "{changes}");
    assert!(!changes.contains("<pre"), "nothing to diff: {changes}");
    assert_eq!(
        cells(&kill),
        drawn(&[&[(0, "untouched"), (1, "untouched")], &[(2, "untouched")]])
    );
    let restart = page(&state, &uri(&world.restart)).await;
    let changes = between(&restart, "id=\"update-changes\">", "</div>");
    assert!(
        changes.contains("instances 0-2: restart: same config"),
        "{changes}"
    );
    assert!(!changes.contains("<pre"), "{changes}");
}

#[tokio::test]
async fn user_text_on_update_pages_is_escaped() {
    let world = world();
    let state = web_state(&world.script);
    let body = page(&state, &uri(&world.update)).await;
    assert!(!body.contains("<script>"), "{body}");
    let escaped = "&#60;script&#62;alert(1)&#60;/script&#62;";
    assert!(
        body.contains(&format!("<dt>note</dt><dd>{escaped}</dd>")),
        "metadata escaped: {body}"
    );
    assert!(
        body.contains(&format!("{escaped} exited with status 1")),
        "message escaped"
    );
}

#[tokio::test]
async fn the_job_page_names_the_active_update_until_it_ends() {
    let world = world();
    let state = web_state(&world.script);
    let update = &world.update;
    let during = page(
        &state,
        &format!("/scheduler/www/prod/web?at={}", world.failed),
    )
    .await;
    let notice = between(&during, "id=\"active-update\">", "</div>");
    assert!(
        notice.contains(&format!(
            "href=\"/updates/www/prod/web/{}?at={}\"",
            update.id, world.failed
        )),
        "{notice}"
    );
    assert!(notice.contains(">ROLLING_FORWARD</strong>"), "{notice}");
    assert!(
        notice.contains("6 of 9 instances updated, 1 failed"),
        "{notice}"
    );
    let after = page(&state, "/scheduler/www/prod/web").await;
    assert!(!after.contains("id=\"active-update\""), "{after}");
    let listed = rows(&after, "job-updates");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0][0], update.id.to_string());
    assert_eq!(listed[0][2], "ROLLED_BACK");
    assert!(after.contains(&format!("href=\"/updates/www/prod/web/{}\"", update.id)));
    // Before the update started, the job lists none.
    let before = page(&state, "/scheduler/www/prod/web?at=12").await;
    assert!(
        before.contains("No update of this job is in the history."),
        "{before}"
    );
}

#[tokio::test]
async fn the_updates_list_splits_active_and_finished_and_keeps_the_moment() {
    let world = world();
    let state = web_state(&world.script);
    let now = page(&state, "/updates").await;
    let active = rows(&now, "active-updates");
    assert_eq!(active.len(), 1, "the restart is in progress");
    assert_eq!(active[0][1], world.restart.id.to_string());
    let finished = rows(&now, "finished-updates");
    let statuses: Vec<&str> = finished.iter().map(|r| r[3].as_str()).collect();
    assert_eq!(
        statuses,
        vec!["ROLLED_FORWARD", "ROLLED_BACK"],
        "newest first"
    );
    assert_eq!(finished[1][2], "alice");
    let past = page(&state, &format!("/updates?at={}", world.failed)).await;
    let active = rows(&past, "active-updates");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0][3], "ROLLING_FORWARD");
    assert!(past.contains(&format!(
        "href=\"/updates/www/prod/web/{}?at={}\"",
        world.update.id, world.failed
    )));
    assert!(!past.contains("id=\"finished-updates\""), "{past}");
}

#[tokio::test]
async fn pruned_updates_are_gone_with_a_clear_message() {
    let mut world = world();
    let pruned = world.script.push(Event::UpdatesPruned {
        job: world.kill.job.clone(),
        updates: vec![world.kill.id],
    });
    let state = web_state(&world.script);
    let (status, body) = get(&state, &uri(&world.kill)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body.contains(&format!("was pruned from the history at seq {pruned}")),
        "{body}"
    );
    let before = format!("{}?at={}", uri(&world.kill), pruned - 1);
    assert!(body.contains(&format!("href=\"{before}\"")), "{body}");
    assert!(
        page(&state, &before)
            .await
            .contains(">ROLLED_FORWARD</strong>")
    );
    let listed = page(&state, "/updates").await;
    assert!(!listed.contains(&world.kill.id.to_string()), "{listed}");
    // An update that never was says so differently.
    let (status, body) = get(&state, &uri(&update_key("gone", 99))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("never existed"), "{body}");
}

#[tokio::test]
async fn a_four_thousand_instance_update_page_stays_small() {
    const INSTANCES: u32 = 4000;
    let mut s = Script::new();
    s.push(Event::ClusterInitialised {
        cluster: "devcluster".into(),
    });
    let key = job("www", "prod", "big");
    let old = config(&key, Tier::Preferred, 0.1, 16, false);
    let mut new = old.clone();
    new.executor.processes[0].cmdline = "./server --v2".into();
    let old_hash: ConfigHash = s.store(&old);
    s.push(Event::JobCreated {
        job: key.clone(),
        config: old_hash,
        instances: INSTANCES,
    });
    let new_hash = s.store(&new);
    let update = update_key("big", 7);
    start(
        &mut s,
        &update,
        vec![InstanceConfigRanges {
            config: old_hash,
            instances: vec![range(0, INSTANCES - 1)],
        }],
        Some(InstanceConfigRanges {
            config: new_hash,
            instances: vec![range(0, INSTANCES - 1)],
        }),
        UpdateStrategy::Batch {
            group_size: 5,
            autopause_after_batch: false,
        },
    );
    for i in 0..INSTANCES {
        act(&mut s, &update, i, InstanceUpdating);
        if i < 3000 {
            act(&mut s, &update, i, InstanceUpdated);
        }
    }
    let state = web_state(&s);
    let body = page(&state, &uri(&update)).await;
    let grid = cells(&body);
    assert_eq!(grid.len(), 800, "batches of five");
    assert_eq!(grid.iter().map(Vec::len).sum::<usize>(), INSTANCES as usize);
    assert!(body.len() < 1_000_000, "{} bytes", body.len());
    assert!(
        body.contains("and 6500 older instance events."),
        "the events are capped"
    );
}
