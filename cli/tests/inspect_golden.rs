//! `aurora job inspect --write-json` on each of the configuration tutorial's examples prints
//! exactly the job of aurora-config's golden files (resources, processes with templates
//! resolved, instances, ordering constraints): the client adds nothing and loses nothing.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

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
            let home = tempfile::tempdir().unwrap();
            // The golden files were made with $USER = alice (see aurora-config's tests).
            let mut args = vec![
                "job",
                "inspect",
                &key,
                fixture.to_str().unwrap(),
                "--write-json",
            ];
            // As aurora-config's golden test binds it: a value Aurora's suite passes in.
            if name == "end_to_end" {
                args.extend(["--bind", "appc_image_id=sha512-0123"]);
            }
            let output = Command::new(env!("CARGO_BIN_EXE_aurora"))
                .args(&args)
                .env_clear()
                .env("USER", "alice")
                .env("HOME", home.path())
                .env("AURORA_CONFIG_ROOT", home.path())
                .output()
                .unwrap();
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
