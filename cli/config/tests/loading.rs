//! Loading behaviour: the materialised TaskConfig, bindings, `os.getenv`, job selection,
//! includes, the JSON round trip, and the Python that `.aurora` files are written in.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aurora_config::{JobConfig, LoadOptions, load_json, load_str, load_str_selected};
use aurora_events::config::{
    Announcer, Constraint, ConstraintKind, HealthCheck, HealthChecker, HttpLifecycle,
    LogDestination, LogRotation, Logger, PartitionPolicy, Process, SlaPolicy, ThermosTask,
};
use aurora_events::update::{UpdateSettings, UpdateStrategy};
use aurora_events::{JobKey, Resources, TaskConfig, Tier};
use pretty_assertions::assert_eq;

fn process(name: &str, cmdline: &str) -> Process {
    Process {
        name: name.into(),
        cmdline: cmdline.into(),
        max_failures: 1,
        daemon: false,
        ephemeral: false,
        min_duration_secs: 5,
        is_final: false,
        logger: Logger::default(),
    }
}

fn default_update() -> UpdateSettings {
    UpdateSettings {
        strategy: UpdateStrategy::Queue { group_size: 1 },
        max_per_instance_failures: 0,
        max_failed_instances: 0,
        min_wait_in_instance_running_ms: 45_000,
        rollback_on_failure: true,
        update_only_these_instances: Vec::new(),
        block_if_no_pulses_after_ms: None,
        sla_aware: false,
    }
}

fn load(source: &str, options: &LoadOptions) -> Result<Vec<JobConfig>, aurora_config::ConfigError> {
    load_str("inline.aurora", source, options).map(|l| l.jobs)
}

#[test]
fn hello_world_materialises_to_the_whole_job_config() {
    let loaded = common::loaded("hello_world.aurora");
    let key = JobKey::new("alice", "test", "hello_world").expect("valid key");
    let expected = JobConfig {
        cluster: "cluster1".into(),
        key: key.clone(),
        instances: 1,
        task: TaskConfig {
            job: key,
            owner: None,
            is_service: false,
            priority: 0,
            max_task_failures: 1,
            tier: Tier::Preemptible,
            resources: Resources {
                cpus: 0.1,
                ram_mb: 16,
                disk_mb: 16,
                gpus: 0,
                ports: BTreeSet::new(),
            },
            constraints: Vec::new(),
            contact_email: None,
            metadata: BTreeMap::new(),
            executor: ThermosTask {
                name: "hello_world".into(),
                processes: vec![process("hello_world", "echo hello world")],
                ordering: Vec::new(),
                max_failures: 1,
                max_concurrency: 0,
                finalization_wait_secs: 30,
            },
            health_check: None,
            lifecycle: None,
            announce: None,
            partition_policy: None,
            sla_policy: None,
            container: None,
        },
        cron_schedule: None,
        cron_collision_policy: None,
        update: default_update(),
        container: None,
    };
    assert_eq!(loaded.jobs, vec![expected]);
    assert_eq!(
        loaded.jobs[0].key_string(),
        "cluster1/alice/test/hello_world"
    );
}

#[test]
fn service_features_map_onto_task_config() {
    let loaded = common::loaded("service_features.aurora");
    let web = loaded
        .select("west", "www-data", "prod", "web")
        .expect("web");
    let t = &web.task;
    assert_eq!(
        t.resources.ports,
        BTreeSet::from(["health".to_string(), "http".to_string()])
    );
    assert_eq!(
        (t.resources.cpus, t.resources.ram_mb, t.resources.disk_mb),
        (1.5, 1024, 4096)
    );
    assert_eq!(t.tier, Tier::Preferred);
    assert!(t.production() && t.is_service);
    assert_eq!((t.priority, t.max_task_failures), (5, -1));
    assert_eq!(t.contact_email.as_deref(), Some("web-team@example.com"));
    assert_eq!(
        t.constraints,
        vec![
            Constraint {
                name: "host".into(),
                kind: ConstraintKind::Limit { limit: 1 }
            },
            Constraint {
                name: "rack".into(),
                kind: ConstraintKind::Value {
                    negated: true,
                    values: vec!["r1".into(), "r2".into()]
                },
            },
            Constraint {
                name: "zone".into(),
                kind: ConstraintKind::Value {
                    negated: false,
                    values: vec!["a".into()]
                }
            },
        ]
    );
    assert_eq!(
        t.metadata,
        BTreeMap::from([
            ("owner".to_string(), "www-data".to_string()),
            ("team".to_string(), "web".to_string())
        ])
    );
    assert_eq!(
        t.health_check,
        Some(HealthCheck {
            checker: HealthChecker::Http {
                endpoint: "/ready".into(),
                expected_response: "ok".into(),
                expected_response_code: 0,
            },
            initial_interval_secs: 30,
            interval_secs: 5,
            max_consecutive_failures: 3,
            min_consecutive_successes: 1,
            timeout_secs: 1,
        })
    );
    assert_eq!(
        t.lifecycle,
        Some(HttpLifecycle {
            port: "health".into(),
            graceful_shutdown_endpoint: "/quitquitquit".into(),
            graceful_shutdown_wait_secs: 5,
            shutdown_endpoint: "/abortabortabort".into(),
            shutdown_wait_secs: 5,
        })
    );
    assert_eq!(
        t.announce,
        Some(Announcer {
            primary_port: "http".into(),
            portmap: BTreeMap::from([
                ("admin".to_string(), "8081".to_string()),
                ("aurora".to_string(), "http".to_string())
            ]),
            zk_path: Some("/aurora/web".into()),
        })
    );
    assert_eq!(
        t.partition_policy,
        Some(PartitionPolicy {
            reschedule: false,
            delay_secs: 0
        })
    );
    assert_eq!(
        t.sla_policy,
        Some(SlaPolicy::Count {
            count: 4,
            duration_secs: 1800
        })
    );
    let web_process = &t.executor.processes[0];
    assert_eq!(
        web_process.logger,
        Logger {
            destination: LogDestination::Both,
            rotate: Some(LogRotation {
                log_size_mb: 10,
                backups: 3
            }),
        }
    );
    assert_eq!(
        web_process.cmdline,
        "./web --http={{thermos.ports[http]}} --health={{thermos.ports[health]}} --user=www-data --cluster=west"
    );
    assert!(t.executor.processes[1].is_final);
    assert_eq!(
        (
            t.executor.max_failures,
            t.executor.max_concurrency,
            t.executor.finalization_wait_secs
        ),
        (2, 4, 20)
    );
    assert_eq!(
        web.update,
        UpdateSettings {
            strategy: UpdateStrategy::VariableBatch {
                group_sizes: vec![1, 2, 3],
                autopause_after_batch: false
            },
            max_per_instance_failures: 2,
            max_failed_instances: 1,
            min_wait_in_instance_running_ms: 10_000,
            rollback_on_failure: false,
            update_only_these_instances: Vec::new(),
            block_if_no_pulses_after_ms: Some(120_000),
            sla_aware: true,
        }
    );

    let shell = loaded
        .select("west", "www-data", "prod", "shell-checked")
        .expect("shell-checked");
    assert_eq!(
        shell.task.health_check.as_ref().map(|h| &h.checker),
        Some(&HealthChecker::Shell {
            command: "curl -f localhost:{{thermos.ports[http]}}/ok".into()
        })
    );
    assert_eq!(shell.task.lifecycle, None, "DisableLifecycle");
    assert_eq!(shell.task.announce, None, "announce = Empty unsets it");
    assert_eq!(shell.task.tier, Tier::Revocable);
    assert_eq!(
        shell.update.strategy,
        UpdateStrategy::Batch {
            group_size: 2,
            autopause_after_batch: false
        }
    );
    assert_eq!(
        shell.task.sla_policy,
        Some(SlaPolicy::Percentage {
            percentage: 66.5,
            duration_secs: 600
        })
    );

    let nightly = loaded
        .select("west", "www-data", "prod", "nightly")
        .expect("nightly");
    assert_eq!(nightly.cron_schedule.as_deref(), Some("0 3 * * *"));
    assert_eq!(nightly.cron_collision_policy.as_deref(), Some("CANCEL_NEW"));
    assert_eq!(
        nightly.task.tier,
        Tier::Preferred,
        "production = True without a tier"
    );
    assert_eq!(nightly.task.resources.ports, BTreeSet::new());
}

#[test]
fn runtime_references_request_ports_and_stay_in_command_lines() {
    let loaded = common::loaded("nested_templates.aurora");
    let bird = &loaded.jobs[0];
    assert_eq!(
        bird.task.resources.ports,
        BTreeSet::from(["http".to_string()])
    );
    assert_eq!(
        bird.task.executor.processes[2].cmdline,
        "./bird/bin/serve --port={{thermos.ports[http]}} --shard={{mesos.instance}} \
         --id={{thermos.task_id}} --host={{mesos.hostname}}"
    );
    assert_eq!(
        bird.task.health_check, None,
        "an HTTP check needs a 'health' port"
    );
}

const BOUND: &str = r#"
import os
app = Process(name = 'app', cmdline = 'run --version={{version}} --user={{user}} --color={{color}}')
job = Job(cluster = 'c', role = os.getenv('USER', 'nobody'), environment = 'prod',
  task = Task(processes = [app], resources = Resources(cpu = 1, ram = 64 * MB, disk = 64 * MB)))
jobs = [job.bind(user = os.getenv('USER'), color = 'red')]
"#;

#[test]
fn cli_bindings_fill_templates_and_win_over_config_bindings_but_not_job_fields() {
    let options = LoadOptions {
        bindings: vec![
            ("version".into(), "1.2".into()),
            ("color".into(), "blue".into()),
            ("role".into(), "ignored".into()),
        ],
        env: BTreeMap::from([("USER".to_string(), "bob".to_string())]),
        user: None,
    };
    let jobs = load(BOUND, &options).expect("loads");
    assert_eq!(jobs[0].key_string(), "c/bob/prod/app");
    assert_eq!(
        jobs[0].task.executor.processes[0].cmdline,
        "run --version=1.2 --user=bob --color=blue"
    );
}

#[test]
fn missing_binding_is_an_unbound_variable() {
    let options = LoadOptions {
        bindings: Vec::new(),
        env: BTreeMap::from([("USER".to_string(), "bob".to_string())]),
        user: None,
    };
    let e = load(BOUND, &options).expect_err("version is unbound");
    assert_eq!((e.line, e.column), (3, 7));
    assert_eq!(
        e.message,
        "unbound template variable version (in Process.cmdline)"
    );
}

#[test]
fn getenv_reads_the_map_given_never_the_process_environment() {
    let options = LoadOptions {
        bindings: vec![("version".into(), "1".into())],
        env: BTreeMap::new(),
        user: None,
    };
    let e = load(BOUND, &options).expect_err("os.getenv('USER') is None without USER");
    assert_eq!((e.line, e.column), (6, 9));
    assert_eq!(
        e.message,
        "cannot bind user to None: bind strings, numbers, structs or dicts"
    );
    let source = "import os\nx = os.getenv('HOME', 'none')\njobs = [Job(cluster = 'c', role = x, environment = os.environ.get('ENV', 'devel'), task = SimpleTask('t', 'true'))]\n";
    let jobs = load(source, &LoadOptions::default()).expect("loads");
    assert_eq!(jobs[0].key_string(), "c/none/devel/t");
}

#[test]
fn select_finds_a_job_or_names_the_candidates() {
    let loaded = common::loaded("hello_world_productionized.aurora");
    let job = loaded
        .select("cluster2", "alice", "test", "hello_world-cluster2")
        .expect("present");
    assert_eq!(job.instances, 15);
    let e = loaded
        .select("cluster3", "alice", "test", "hello_world")
        .expect_err("absent");
    assert_eq!(
        e.to_string(),
        "Could not find job cluster3/alice/test/hello_world\nCandidates are:\n  \
         cluster1/alice/test/hello_world-cluster1\n  cluster2/alice/test/hello_world-cluster2\n  \
         local/alice/test/hello_world-local"
    );
    let twice = "j = Job(cluster = 'c', role = 'r', environment = 'e', task = SimpleTask('t', 'true'))\njobs = [j, j]\n";
    let loaded = load_str("twice.aurora", twice, &LoadOptions::default()).expect("loads");
    let e = loaded.select("c", "r", "e", "t").expect_err("ambiguous");
    assert!(e.message.starts_with("Multiple jobs match c/r/e/t"), "{e}");
}

const MIXED: &str = r#"
base = Job(cluster = 'c', role = 'r', environment = 'prod', task = SimpleTask('plain', 'true'))
jobs = [
  base,
  base(name = 'needs-bind', task = SimpleTask('x', 'run {{version}}')),
  base(name = 'no-env', environment = None),
]
"#;

#[test]
fn selecting_a_job_materialises_only_that_one() {
    let options = LoadOptions::default();
    let plain = load_str_selected("mixed.aurora", MIXED, &options, "c", "r", "prod", "plain")
        .expect("the other jobs are not materialised");
    assert_eq!(plain.key_string(), "c/r/prod/plain");
    let alone = MIXED
        .split("jobs = ")
        .next()
        .unwrap_or_default()
        .to_string()
        + "jobs = [base]\n";
    assert_eq!(
        plain,
        load_str("alone.aurora", &alone, &options)
            .expect("loads")
            .jobs[0],
        "selected, a job materialises as it does alone"
    );
    let e = load_str_selected(
        "mixed.aurora",
        MIXED,
        &options,
        "c",
        "r",
        "prod",
        "needs-bind",
    )
    .expect_err("its own template is unbound");
    assert_eq!(
        e.to_string(),
        "mixed.aurora:5:36: unbound template variable version (in Process.cmdline)"
    );
    let e = load_str("mixed.aurora", MIXED, &options).expect_err("every job is materialised");
    assert_eq!((e.line, e.column), (5, 36));
    let e = load_str_selected("mixed.aurora", MIXED, &options, "c", "r", "test", "plain")
        .expect_err("absent");
    assert_eq!(
        e.to_string(),
        "Could not find job c/r/test/plain\nCandidates are:\n  c/r/prod/plain\n  \
         c/r/prod/needs-bind\n  c/r/{MISSING}/no-env"
    );
}

#[test]
fn json_round_trip_gives_every_fixture_job_back() {
    for name in common::FIXTURES {
        for job in common::loaded(&format!("{name}.aurora")).jobs {
            let json = job.to_json().to_string();
            let back = load_json(&json).unwrap_or_else(|e| panic!("{name}: {e}\n{json}"));
            assert_eq!(back.jobs, vec![job], "{name}");
        }
    }
}

#[test]
fn json_input_forms_and_errors() {
    let job = common::loaded("hello_world.aurora").jobs.remove(0);
    let one = job.to_json();
    let list = serde_json::json!([one.clone(), one.clone()]);
    let wrapped = serde_json::json!({"jobs": [one.clone()]});
    assert_eq!(load_json(&list.to_string()).expect("list").jobs.len(), 2);
    assert_eq!(
        load_json(&wrapped.to_string()).expect("wrapped").jobs,
        vec![job]
    );
    let e = load_json("{\"name\": ").expect_err("truncated");
    assert_eq!((e.file.as_str(), e.line), ("<json>", 1));
    let mut no_cmdline = one;
    no_cmdline["task"]["processes"][0]["cmdline"] = serde_json::Value::Null;
    let e = load_json(&no_cmdline.to_string()).expect_err("no cmdline");
    assert_eq!(
        e.to_string(),
        "<json>: Process 'hello_world' has no cmdline"
    );
}

#[test]
fn includes_are_relative_to_the_including_file() {
    let dir = common::tests_dir().join("fixtures");
    let source = "include('hello_world.aurora')\njobs = [hello_world_job(name = 'included')]\n";
    let loaded = load_str(
        &dir.join("virtual.aurora").to_string_lossy(),
        source,
        &common::options(),
    )
    .expect("loads");
    assert_eq!(loaded.jobs[0].key_string(), "cluster1/alice/test/included");
}

#[test]
fn include_cycles_are_refused() {
    let dir = std::env::temp_dir().join(format!(
        "aurora-config-include-cycle-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("a.aurora"), "x = 1\ninclude('b.aurora')\n").expect("write a");
    std::fs::write(dir.join("b.aurora"), "include('a.aurora')\n").expect("write b");
    let e = aurora_config::load_file(&dir.join("a.aurora"), &LoadOptions::default())
        .expect_err("cycle");
    std::fs::remove_dir_all(&dir).ok();
    assert!(e.file.ends_with("b.aurora"), "{e}");
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.message.starts_with("include cycle: "), "{e}");
}

#[test]
fn python_forms_of_the_dsl() {
    let source = r#"
class Profile(Struct):
  """A docstring."""
  name = Default(String, 'svc')
  port_name = Default(String, 'http')
  full = Default(String, '{{self.name}}-{{port_name}}')

p = Profile()
proc = Process(name = u'p', cmdline = 'echo %s ' '{{&x}}' % 'a')
task = Task(processes = [proc], resources = Resources(cpu = 1, ram = 1 * GB, disk = 1 * GB))
if task.name() != 'p' or not proc.has_cmdline() or proc.has_logger():
  fail('getters')
names = [x.name() for x in task.processes()]
def make(name, **kw):
  return Process(name = name, **kw)
shout = lambda p: p(cmdline = p.cmdline().upper())
extra = shout(make('extra', cmdline = 'echo hi', daemon = True))
if not extra.daemon() or extra.cmdline() != 'ECHO HI':
  fail('def/lambda')
job = Job(cluster = 'c', role = 'r', environment = 'e',
          task = task(name = '{{profile.full}}-' + names[0]))
if job.task().name() != '{{profile.full}}-p':
  fail('job.task().name() is ' + job.task().name())
jobs = [(job).bind(profile = p)]
ports = dict((n, i) for i, n in enumerate(['a', 'b']))
if not any(v == 1 for v in ports.itervalues()) or sorted(ports.iterkeys()) != ['a', 'b']:
  fail('python 2 iteration')
for i in xrange(2):
  if (i, ['a', 'b'][i]) not in [(v, k) for k, v in ports.iteritems()]:
    fail('xrange')
if not ports.has_key('a') or ports.has_key('c') or not dict(x = 1).has_key("x"):
  fail('has_key')
"#;
    let jobs = load(source, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(jobs[0].task.executor.name, "svc-http-p");
    // `{{&x}}` is Pystachio's escape for a literal `{{x}}`.
    assert_eq!(jobs[0].task.executor.processes[0].cmdline, "echo a {{x}}");
}

#[test]
fn loading_is_deterministic() {
    let a = common::loaded("service_features.aurora");
    let b = common::loaded("service_features.aurora");
    assert_eq!(a.jobs, b.jobs);
}

#[test]
fn a_port_only_a_shell_health_check_names_is_requested() {
    let source = "jobs = [Service(cluster = 'c', role = 'r', environment = 'prod', task = SimpleTask('t', 'serve'),\n  health_check_config = HealthCheckConfig(health_checker = HealthCheckerConfig(\n    shell = ShellHealthChecker(shell_command = 'probe {{thermos.ports[admin]}}'))))]\n";
    let jobs = load(source, &LoadOptions::default()).expect("loads");
    assert_eq!(
        jobs[0].task.resources.ports,
        BTreeSet::from(["admin".to_string()])
    );
    assert_eq!(
        jobs[0].task.health_check.as_ref().map(|h| &h.checker),
        Some(&HealthChecker::Shell {
            command: "probe {{thermos.ports[admin]}}".into()
        })
    );
}
