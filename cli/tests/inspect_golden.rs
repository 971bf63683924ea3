//! `aurora job inspect --write-json` on each of the configuration tutorial's examples prints
//! exactly the job of aurora-config's golden files (resources, processes with templates
//! resolved, instances, ordering constraints): the client adds nothing and loses nothing.
//! Without `--write-json` it prints Aurora's text (`_render_config_pretty` in `jobs.py`),
//! line for line.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

/// `aurora job inspect KEY FIXTURE EXTRA...` with `$USER` alice, as the golden files were
/// made (see aurora-config's tests), and nothing else from the environment.
fn inspect(fixture: &std::path::Path, key: &str, extra: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_aurora"))
        .args(["job", "inspect", key, fixture.to_str().unwrap()])
        .args(extra)
        .env_clear()
        .env("USER", "alice")
        .env("HOME", home.path())
        .env("AURORA_CONFIG_ROOT", home.path())
        .output()
        .unwrap()
}

/// The text `job inspect` prints for `key` in the tutorial fixture `fixture`.
fn inspect_text(fixture: &str, key: &str) -> String {
    let path = config_tests()
        .join("fixtures")
        .join(format!("{fixture}.aurora"));
    let output = inspect(&path, key, &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{key}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// aurora-config's `tests/`, found at run time.
fn config_tests() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("config/tests")
}

#[test]
fn inspect_prints_the_golden_job_of_every_tutorial_example() {
    let golden_dir = config_tests().join("golden");
    let mut checked = 0;
    let mut goldens: Vec<PathBuf> = std::fs::read_dir(&golden_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    goldens.sort();
    for golden in goldens {
        let name = golden.file_stem().unwrap().to_str().unwrap().to_string();
        let fixture = config_tests()
            .join("fixtures")
            .join(format!("{name}.aurora"));
        let jobs: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&golden).unwrap()).unwrap();
        for expected in jobs {
            let key = format!(
                "{}/{}/{}/{}",
                expected["cluster"].as_str().unwrap(),
                expected["role"].as_str().unwrap(),
                expected["environment"].as_str().unwrap(),
                expected["name"].as_str().unwrap()
            );
            let mut extra = vec!["--write-json"];
            // As aurora-config's golden test binds it: a value Aurora's suite passes in.
            if name == "end_to_end" {
                extra.extend(["--bind", "appc_image_id=sha512-0123"]);
            }
            let output = inspect(&fixture, &key, &extra);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{name} {key}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let actual: Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(actual, expected, "{name}: {key}");
            checked += 1;
        }
    }
    assert!(
        checked >= 9,
        "only {checked} jobs checked: are the golden files there?"
    );
}

/// Aurora's lines in Aurora's order: `service:`/`production:` as Python booleans, the job's
/// constraints as the config writes them, the partition policy, flags before the cmdline,
/// a blank line closing every section. What Aurora does not show (environment, tier,
/// resources, max failures) closes its section.
#[test]
fn inspect_text_is_aurora_s_for_a_service() {
    assert_eq!(
        inspect_text("service_features", "west/www-data/prod/web"),
        "\
Job level information
  name:       'web'
  role:       'www-data'
  contact:    'web-team@example.com'
  cluster:    'west'
  instances:  '6'
  constraints:
    'host': 'limit:1'
    'rack': '!r1,r2'
    'zone': 'a'
  partition_policy:
    reschedule: False
    delay_secs: '0'
  service:    True
  production: True
  environment: 'prod'
  tier:       'preferred'

Task level information
  name: 'web'
  resources: cpus 1.5, ram 1024 MB, disk 4096 MB

Process 'web':
  cmdline:
    ./web --http={{thermos.ports[http]}} --health={{thermos.ports[health]}} --user=www-data --cluster=west
  max failures: 1

Process 'cleanup':
  final
  cmdline:
    rm -rf tmp
  max failures: 1

"
    );
}

/// A cron job's schedule and policy; ordering constraints as `a < b`, indented as deep as
/// their heading (as Aurora indents them).
#[test]
fn inspect_text_is_aurora_s_for_cron_and_ordering() {
    assert_eq!(
        inspect_text("service_features", "west/www-data/prod/nightly"),
        "\
Job level information
  name:       'nightly'
  role:       'www-data'
  cluster:    'west'
  instances:  '1'
  cron:
    schedule: '0 3 * * *'
    policy:   'CANCEL_NEW'
  service:    False
  production: True
  environment: 'prod'
  tier:       'preferred'

Task level information
  name: 'nightly'
  resources: cpus 1.0, ram 1024 MB, disk 1024 MB

Process 'nightly':
  cmdline:
    run-report --date=today
  max failures: 1

"
    );
    let ordered = inspect_text("sequential", "cluster1/www-data/prod/ordered");
    let task: Vec<&str> = ordered
        .lines()
        .skip_while(|l| *l != "Task level information")
        .take(6)
        .collect();
    assert_eq!(
        task,
        [
            "Task level information",
            "  name: 'copy'",
            "  constraints:",
            "  copy < unpack < remove < app",
            "  resources: cpus 1.0, ram 256 MB, disk 512 MB",
            "",
        ],
        "{ordered}"
    );
    assert!(
        ordered.contains("  service:    False\n  production: False\n"),
        "{ordered}"
    );
}
