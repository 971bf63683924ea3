//! Configs that must not load, and where their errors point: the tutorial's typos at the
//! line of the typo, and each of the loader's checks with its message.

mod common;

use aurora_config::{ConfigError, LoadOptions, load_str};
use pretty_assertions::assert_eq;

/// (line, column, message) of an error; the file is checked separately.
fn position(e: &ConfigError) -> (u32, u32, &str) {
    (e.line, e.column, e.message.as_str())
}

fn load_err(source: &str) -> ConfigError {
    match load_str("inline.aurora", source, &LoadOptions::default()) {
        Ok(l) => panic!("should fail, loaded {} jobs", l.jobs.len()),
        Err(e) => e,
    }
}

/// A one-job config around `task`, with a fixed key.
fn with_task(prelude: &str, task: &str) -> String {
    format!(
        "{prelude}\njobs = [Job(cluster = 'c', role = 'r', environment = 'prod', name = 'j',\n  task = {task})]\n"
    )
}

#[test]
fn missing_comma_in_the_productionized_example_points_at_the_line_that_lacks_it() {
    let e = common::failure("hello_world_productionized_as_written.aurora");
    assert!(
        e.file
            .ends_with("hello_world_productionized_as_written.aurora"),
        "{e}"
    );
    assert_eq!(
        position(&e),
        (
            6,
            37,
            "missing comma at the end of this line? (Parse error: unexpected identifier 'task', expected symbol ')' on line 7)"
        )
    );
}

#[test]
fn undefined_name_in_the_productionized_example_points_at_its_use() {
    let e = common::failure("hello_world_productionized_undefined.aurora");
    assert_eq!(position(&e), (7, 24, "Variable `hello_world` not found"));
}

#[test]
fn hello_world_as_written_has_no_environment() {
    let e = common::failure("hello_world_as_written.aurora");
    assert_eq!(
        position(&e),
        (8, 19, "Job 'hello_world' has no environment")
    );
}

#[test]
fn string_broken_across_lines_in_the_example_file() {
    let e = common::failure("profile_as_written.aurora");
    assert_eq!(
        position(&e),
        (25, 17, "Parse error: unfinished string literal")
    );
}

#[test]
fn indented_statement_in_the_example_file() {
    let e = common::failure("profile_indented.aurora");
    assert_eq!(
        position(&e),
        (
            33,
            5,
            "Parse error: unexpected new indentation block, expected expression"
        )
    );
}

#[test]
fn missing_comma_in_the_thermos_profile_example() {
    let e = common::failure("thermos_profile_as_written.aurora");
    assert_eq!((e.line, e.column), (11, 16), "{e}");
}

#[test]
fn display_is_file_line_column_message() {
    let e = load_err("x = (\n");
    assert_eq!(
        e.to_string(),
        format!("inline.aurora:{}:{}: {}", e.line, e.column, e.message)
    );
}

#[test]
fn process_without_cmdline() {
    let source = with_task(
        "app = Process(name = 'app')",
        "Task(processes = [app], resources = Resources(cpu = 1, ram = MB, disk = MB))",
    );
    assert_eq!(
        position(&load_err(&source)),
        (1, 7, "Process 'app' has no cmdline")
    );
}

#[test]
fn unbound_template_variable_names_the_reference() {
    let source = with_task(
        "app = Process(name = 'app',\n  cmdline = 'fetch {{profile.package_version}}')",
        "Task(processes = [app], resources = Resources(cpu = 1, ram = MB, disk = MB))",
    );
    assert_eq!(
        position(&load_err(&source)),
        (
            1,
            7,
            "unbound template variable profile.package_version (in Process.cmdline)"
        )
    );
}

#[test]
fn runtime_references_are_only_for_command_lines() {
    let source = "jobs = [Job(cluster = 'c', role = 'r', environment = 'prod',\n  name = 'job-{{mesos.instance}}', task = SimpleTask('t', 'true'))]\n";
    let e = load_err(source);
    assert_eq!((e.line, e.column), (1, 9));
    assert!(
        e.message
            .contains("{{mesos.instance}} is only known when the task runs"),
        "{e}"
    );
}

#[test]
fn syntax_errors_report_line_and_column() {
    let e = load_err("x = 1\ny = [1, 2\nz = 3\n");
    assert_eq!((e.line, e.column), (2, 10), "{e}");
    let e = load_err("a = 1\n\nb = ) \n");
    assert_eq!(
        position(&e),
        (
            3,
            5,
            "Parse error: unexpected symbol ')', expected expression"
        )
    );
}

#[test]
fn unknown_keyword_argument_is_named() {
    let e = load_err("p = Process(name = 'x',\n            nme = 'y')\n");
    assert_eq!(e.line, 1);
    assert_eq!(e.column, 5);
    assert_eq!(
        e.message,
        "unknown keyword argument 'nme' for Process (it has: cmdline, name, max_failures, \
         daemon, ephemeral, min_duration, final, logger)"
    );
}

/// Thermos reserves `Process.resources` for future use: a config setting it loads (as it
/// does with Aurora), though the error above does not offer it.
#[test]
fn process_resources_is_reserved_and_accepted() {
    let source = with_task(
        "",
        "Task(name = 't', processes = [Process(name = 'p', cmdline = 'true', \
         resources = Resources(cpu = 1, ram = MB, disk = MB))], \
         resources = Resources(cpu = 1, ram = MB, disk = MB))",
    );
    let loaded = load_str("reserved.aurora", &source, &LoadOptions::default());
    assert!(loaded.is_ok(), "{:?}", loaded.err());
}

#[test]
fn task_without_processes() {
    let source = with_task(
        "",
        "Task(name = 'empty', resources = Resources(cpu = 1, ram = MB, disk = MB))",
    );
    assert_eq!(
        position(&load_err(&source)),
        (3, 10, "Task 'empty' has no processes")
    );
}

#[test]
fn duplicate_process_names() {
    let source = with_task(
        "a = Process(name = 'p', cmdline = 'true')\nb = a(cmdline = 'false')",
        "Task(processes = [a, b], resources = Resources(cpu = 1, ram = MB, disk = MB))",
    );
    assert_eq!(
        position(&load_err(&source)),
        (2, 5, "Task 'p' has two processes named 'p'")
    );
}

#[test]
fn cpu_must_be_positive() {
    let source = with_task(
        "",
        "Task(name = 't', processes = [Process(name = 'p', cmdline = 'true')],\n    resources = Resources(cpu = 0, ram = MB, disk = MB))",
    );
    assert_eq!(
        position(&load_err(&source)),
        (4, 17, "Task 't': cpu must be greater than 0, got 0")
    );
}

#[test]
fn ram_below_one_mebibyte() {
    let source = with_task(
        "",
        "Task(name = 't', processes = [Process(name = 'p', cmdline = 'true')],\n    resources = Resources(cpu = 1, ram = 1000, disk = MB))",
    );
    let e = load_err(&source);
    assert_eq!(
        e.message,
        "Task 't': ram must be at least 1 MiB (1048576 bytes), got 1000 bytes"
    );
}

#[test]
fn order_naming_an_unknown_process() {
    let source = with_task(
        "a = Process(name = 'a', cmdline = 'true')",
        "Task(processes = [a],\n    constraints = order(a, 'b'),\n    resources = Resources(cpu = 1, ram = MB, disk = MB))",
    );
    assert_eq!(
        position(&load_err(&source)),
        (4, 19, "order() names unknown process 'b' (Task 'a' has: a)")
    );
}

#[test]
fn ordering_cycles_are_refused() {
    let source = with_task(
        "a = Process(name = 'a', cmdline = 'true')\nb = Process(name = 'b', cmdline = 'true')",
        "Task(name = 't', processes = [a, b], constraints = order(a, b) + order(b, a),\n    resources = Resources(cpu = 1, ram = MB, disk = MB))",
    );
    let e = load_err(&source);
    assert_eq!(
        e.message,
        "the ordering constraints of Task 't' form a cycle: a -> b -> a"
    );
}

#[test]
fn job_missing_each_required_field() {
    for (missing, field) in [
        ("cluster = 'c', ", "cluster"),
        ("role = 'r', ", "role"),
        ("environment = 'e', ", "environment"),
    ] {
        let full = "jobs = [Job(cluster = 'c', role = 'r', environment = 'e', task = SimpleTask('t', 'true'))]\n";
        let e = load_err(&full.replace(missing, ""));
        assert_eq!(
            position(&e),
            (1, 9, format!("Job 't' has no {field}").as_str())
        );
    }
    let e = load_err("jobs = [Job(cluster = 'c', role = 'r', environment = 'e', name = 'j')]\n");
    assert_eq!(e.message, "Job 'j' has no task");
}

#[test]
fn struct_values_are_type_checked() {
    let e = load_err("t = Task(processes = [Resources(cpu = 1, ram = 1, disk = 1)])\n");
    assert_eq!(
        position(&e),
        (1, 5, "Task.processes[0] must be a Process, got a Resources")
    );
    let e = load_err("p = Process(name = 'p', cmdline = 'x', max_failures = 'many')\n");
    assert_eq!(
        e.message,
        "Process.max_failures: cannot coerce \"many\" to Integer"
    );
}

#[test]
fn required_struct_fields_are_checked() {
    let source = "jobs = [Job(cluster = 'c', role = 'r', environment = 'e', task = SimpleTask('t', 'true'),\n  sla_policy = CountSlaPolicy(count = 2))]\n";
    let e = load_err(source);
    assert_eq!(
        position(&e),
        (
            2,
            16,
            "CountSlaPolicy has no duration_secs (it is required)"
        )
    );
    let e = load_err(
        "jobs = [Job(cluster = 'c', role = 'r', environment = 'e', task = SimpleTask('t', 'true'),\n  metadata = [Metadata(key = 'k')])]\n",
    );
    assert_eq!(position(&e), (2, 15, "Metadata has no value"));
}

#[test]
fn imports_that_cannot_be_honoured_are_refused_at_the_module_they_name() {
    let e = load_err("import os\nimport json, subprocess\n");
    assert_eq!(
        (e.file.as_str(), e.line, e.column),
        ("inline.aurora", 2, 14)
    );
    assert!(
        e.message.starts_with(
            "`import subprocess` cannot be honoured: subprocess reads or changes the machine \
             the client runs on (files, network, programs); configs are evaluated hermetically"
        ),
        "{e}"
    );
    let e = load_err(
        "from __future__ import print_function\n\n  # the clock\nfrom datetime import datetime\n",
    );
    assert_eq!((e.line, e.column), (4, 6));
    assert!(
        e.message
            .starts_with("`from datetime import ...` cannot be honoured: datetime reads the clock"),
        "{e}"
    );
    let e = load_err("from os import (getenv,\n   system)\n");
    assert_eq!((e.line, e.column), (2, 4));
    assert!(
        e.message
            .starts_with("`from os import system` cannot be honoured: os.system is not available"),
        "{e}"
    );
    let e = load_err("import sys\n");
    assert_eq!((e.line, e.column), (1, 8));
    assert!(e.message.contains("exposes the client process"), "{e}");
    let e = load_err("from . import common\n");
    assert_eq!((e.line, e.column), (1, 6));
    assert!(
        e.message.starts_with("relative imports are not supported"),
        "{e}"
    );
}

#[test]
fn module_members_that_cannot_be_honoured_are_refused_where_they_are_used() {
    let e = load_err("import os\nx = 1\ny = [os.path.exists('/etc')]\n");
    assert_eq!((e.line, e.column), (3, 6));
    assert!(
        e.message
            .starts_with("os.path.exists is not available: configs are evaluated hermetically"),
        "{e}"
    );
}

#[test]
fn getuser_without_a_user_says_none_is_known() {
    let e =
        load_err("import getpass\nclass P(Struct):\n  role = Default(String, getpass.getuser())\n");
    assert_eq!((e.line, e.column), (3, 26));
    assert!(
        e.message.starts_with("getpass.getuser(): no user is known"),
        "{e}"
    );
}

#[test]
fn include_must_be_a_top_level_statement() {
    let e = load_err("def f():\n  include('x.aurora')\nf()\n");
    assert_eq!((e.line, e.column), (2, 3));
    assert!(
        e.message
            .starts_with("include() must be a statement of its own"),
        "{e}"
    );
}

#[test]
fn no_jobs() {
    let e = load_err("x = 1\n");
    assert_eq!(
        e.to_string(),
        "inline.aurora: no jobs defined: the config must end with `jobs = [job, ...]`"
    );
}

#[test]
fn errors_inside_included_files_name_that_file() {
    let dir = common::tests_dir().join("fixtures");
    let source = "include('thermos_profile_as_written.aurora')\njobs = []\n";
    let e = load_str(
        &dir.join("main.aurora").to_string_lossy(),
        source,
        &LoadOptions::default(),
    )
    .expect_err("the included file is broken");
    assert!(e.file.ends_with("thermos_profile_as_written.aurora"), "{e}");
    assert_eq!(e.line, 11);
    let e = load_str(
        &dir.join("main.aurora").to_string_lossy(),
        "include('nope.aurora')\n",
        &LoadOptions::default(),
    )
    .expect_err("missing include");
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.message.starts_with("cannot read included file"), "{e}");
}

#[test]
fn name_used_before_it_is_defined() {
    let e = load_err(
        "job = Job(cluster = 'c', role = 'r', environment = 'e',\n  task = task)\ntask = SimpleTask('t', 'true')\njobs = [job]\n",
    );
    assert_eq!((e.line, e.column), (2, 10), "{e}");
    assert_eq!(
        e.message,
        "Local variable `task` referenced before assignment"
    );
}
