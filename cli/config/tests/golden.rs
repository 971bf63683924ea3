//! The tutorial's examples, loaded: `to_json()` of every job of each fixture equals
//! `tests/golden/<fixture>.json`. After a deliberate change, `AURORA_BLESS=1 cargo test -p
//! aurora-config --test golden` rewrites the files; review the diff before committing it.

mod common;

use pretty_assertions::assert_eq;

fn check(name: &str) {
    let loaded = common::loaded(&format!("{name}.aurora"));
    compare(name, &loaded.jobs);
}

/// `to_json()` of `jobs` equals `tests/golden/<name>.json`.
fn compare(name: &str, jobs: &[aurora_config::JobConfig]) {
    let jobs: Vec<serde_json::Value> = jobs.iter().map(|j| j.to_json()).collect();
    let actual = format!("{:#}\n", serde_json::Value::Array(jobs));
    let path = common::tests_dir()
        .join("golden")
        .join(format!("{name}.json"));
    if std::env::var("AURORA_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with AURORA_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        expected,
        actual,
        "{name}: to_json differs from {}",
        path.display()
    );
}

#[test]
fn hello_world() {
    check("hello_world");
}

#[test]
fn hello_world_productionized_with_include() {
    check("hello_world_productionized");
}

#[test]
fn profile_struct_and_job_template() {
    check("profile");
}

#[test]
fn nested_templates_in_struct_defaults() {
    check("nested_templates");
}

#[test]
fn order_and_sequential_task() {
    check("sequential");
}

#[test]
fn thermos_profile() {
    check("thermos_profile");
}

#[test]
fn tasks_concat_and_combine() {
    check("combine");
}

#[test]
fn simple_task() {
    check("simple_task");
}

#[test]
fn service_features() {
    check("service_features");
}

/// Not every job of this one loads (see the fixture), so each job that does is selected:
/// containers, GPUs and the resolved port alias in their JSON shape.
#[test]
fn end_to_end_jobs_selected_one_by_one() {
    let jobs: Vec<aurora_config::JobConfig> = [
        "demo",
        "demo_revocable",
        "demo_docker",
        "demo_gpu",
        "demo_appc",
        "demo_mesos_docker",
    ]
    .iter()
    .map(|name| {
        common::selected(
            "end_to_end.aurora",
            ["devcluster", "alice", "test", name],
            &[("appc_image_id", "sha512-0123")],
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"))
    })
    .collect();
    compare("end_to_end", &jobs);
}

#[test]
fn every_loading_fixture_has_a_golden_test() {
    let dir = common::tests_dir().join("fixtures");
    let mut loading: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".aurora").map(str::to_string))
        .filter(|f| common::load(&format!("{f}.aurora")).is_ok())
        .collect();
    loading.sort();
    let mut listed: Vec<String> = common::FIXTURES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(listed, loading);
}
