//! Measures the web UI's server time for the heaviest page: a job with 10k instances (goal:
//! p99 ≤ 30 ms), live and at a past seq (`?at=`, which replays from the nearest checkpoint),
//! plus a task page. Requests go through the real router (`oneshot`), so the figures include
//! routing, the projection query, rendering and the body. Prints figures; asserts nothing.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use aurora_bench::{latency_histogram, ms};
use aurora_events::{
    Actor, AgentId, Envelope, Event, EventId, JobKey, PendingEvent, ScheduleStatus, Seq, TaskId,
    Timestamp, Uuid, samples,
};
use aurora_projections::HistoryConfig;
use aurora_projections::ReadModel;
use aurora_web::{WebState, app};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use clap::Parser;
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tower::ServiceExt;

#[derive(Debug, Parser)]
#[command(about = "Web UI page server time for a large job")]
struct Args {
    /// Instances of the job.
    #[arg(long, default_value_t = 10_000)]
    instances: u32,
    /// Requests timed per page.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Appends events with dense seqs, one millisecond apart.
struct Log {
    envelopes: Vec<Envelope>,
    now: i64,
}

impl Log {
    fn push(&mut self, actor: Actor, event: Event) {
        let seq = self.envelopes.len() as Seq + 1;
        self.now += 1;
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&seq.to_le_bytes());
        let pending = PendingEvent {
            id: EventId::from_parts(self.now as u64, random),
            actor,
            cause: None,
            event,
        };
        self.envelopes
            .push(pending.commit(seq, Timestamp(self.now)));
    }
}

/// A job of `instances` tasks, all placed over 500 hosts and RUNNING, one in ten of them
/// having failed once and been replaced first (so the page has finished tasks too).
fn history(key: &JobKey, instances: u32) -> Vec<Envelope> {
    let mut log = Log {
        envelopes: Vec::new(),
        now: 1_767_225_600_000,
    };
    log.push(
        Actor::Scheduler,
        Event::ClusterInitialised {
            cluster: "bench".into(),
        },
    );
    let mut config = samples::task_config();
    config.job = key.clone();
    let hash = config.hash();
    let user = Actor::User("bench".into());
    log.push(
        user.clone(),
        Event::TaskConfigStoredV2 {
            hash,
            config: Box::new(config),
        },
    );
    log.push(
        user.clone(),
        Event::JobCreated {
            job: key.clone(),
            config: hash,
            instances,
        },
    );
    let mut serial = 0u128;
    let mut task = |log: &mut Log, instance: u32, ancestor: Option<TaskId>| {
        serial += 1;
        let id = TaskId::generate(key, instance, Uuid::from_u128(serial));
        log.push(
            user.clone(),
            Event::TaskCreated {
                task: id.clone(),
                job: key.clone(),
                instance,
                config: hash,
                status: ScheduleStatus::Pending,
                ancestor,
                failure_count: 0,
                penalty_ms: 0,
                message: None,
            },
        );
        let host = format!("host-{}", instance % 500);
        let agent = AgentId(format!("agent-{host}"));
        log.push(
            Actor::Scheduler,
            Event::TaskAssigned {
                task: id.clone(),
                job: key.clone(),
                agent: agent.clone(),
                host,
                ports: [("http".to_string(), 31000), ("health".to_string(), 31001)].into(),
            },
        );
        for (from, to) in [
            (ScheduleStatus::Assigned, ScheduleStatus::Starting),
            (ScheduleStatus::Starting, ScheduleStatus::Running),
        ] {
            log.push(
                Actor::Agent(agent.clone()),
                Event::TaskStateChanged {
                    task: id.clone(),
                    job: key.clone(),
                    from,
                    to,
                    message: None,
                },
            );
        }
        (id, agent)
    };
    for instance in 0..instances {
        if instance % 10 == 0 {
            let (failed, agent) = task(&mut log, instance, None);
            log.push(
                Actor::Agent(agent),
                Event::TaskStateChanged {
                    task: failed.clone(),
                    job: key.clone(),
                    from: ScheduleStatus::Running,
                    to: ScheduleStatus::Failed,
                    message: Some("Process 'hello' exited with status 1".into()),
                },
            );
            task(&mut log, instance, Some(failed));
        } else {
            task(&mut log, instance, None);
        }
    }
    log.envelopes
}

async fn time_page(state: &WebState, uri: &str, samples: usize) -> anyhow::Result<String> {
    let mut histogram = latency_histogram();
    let mut bytes = 0;
    for _ in 0..samples {
        let started = Instant::now();
        let response = app(state.clone())
            .oneshot(Request::get(uri).body(Body::empty())?)
            .await?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        let micros = started.elapsed().as_micros() as u64;
        if status != StatusCode::OK {
            bail!(
                "{uri} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        bytes = body.len();
        histogram.record(micros.max(1))?;
    }
    Ok(format!(
        "p50 {} ms, p99 {} ms, max {} ms ({} samples, {:.1} MiB of HTML)",
        ms(histogram.value_at_quantile(0.5)),
        ms(histogram.value_at_quantile(0.99)),
        ms(histogram.max()),
        histogram.len(),
        bytes as f64 / (1024.0 * 1024.0)
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let key = JobKey::new("www", "prod", "big").context("job key")?;
    let envelopes = history(&key, args.instances);
    let read = Arc::new(ReadModel::in_memory(HistoryConfig::default()));
    read.apply(&envelopes);
    let state = WebState {
        cluster: "bench".into(),
        read,
        warning: None,
        cron_zone: jiff::tz::TimeZone::UTC,
        executor_overhead: aurora_web::DEFAULT_EXECUTOR_OVERHEAD,
    };
    let last = envelopes.len() as Seq;
    println!(
        "bench-web: job www/prod/big with {} instances ({} active, {} finished tasks), {last} events",
        args.instances,
        args.instances,
        args.instances.div_ceil(10)
    );
    let job = "/scheduler/www/prod/big";
    println!(
        "  job page, live:            {}",
        time_page(&state, job, args.samples).await?
    );
    // A past moment near the end (the whole job exists), between two checkpoints so that
    // every request replays thousands of events.
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let past = last - rng.random_range(1_000..5_000).min(last - 1);
    println!(
        "  job page, ?at={past}:    {}",
        time_page(&state, &format!("{job}?at={past}"), args.samples).await?
    );
    let task = TaskId::generate(&key, 0, Uuid::from_u128(1));
    println!(
        "  task page (a replaced task): {}",
        time_page(&state, &format!("/tasks/{task}"), args.samples).await?
    );
    Ok(())
}
