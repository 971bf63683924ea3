//! Unit tests of `leftovers.rs`: the record's format and which records a sweep trusts. The
//! sweep itself, with real processes, is tested in `tests/executor/leftovers.rs`.

#![allow(clippy::unwrap_used)]

use pretty_assertions::assert_eq;

use super::*;

fn record(tag: &str, docker: bool) -> Record {
    Record {
        tag: tag.to_string(),
        docker,
    }
}

#[test]
fn a_record_reads_back_as_written() {
    for written in [
        record("4242.0.1700000000123456789", false),
        record("1.2.3", true),
    ] {
        assert_eq!(Record::parse(&written.encode()), Some(written.clone()));
    }
    assert_eq!(record("1.2.3", true).encode(), "1.2.3\ndocker\n");
}

#[test]
fn only_what_the_executor_writes_is_a_record() {
    for text in [
        "",
        "\n",
        "abc\n",
        "1.2.3 \n",
        "1-2\n",
        "1.2.3\ndocker ./evil\n",
        "1.2.3\nsomething\n",
        "1.2.3\ndocker\ndocker\n",
        &format!("{}\n", "1".repeat(65)),
    ] {
        assert_eq!(Record::parse(text), None, "{text:?}");
    }
}

#[tokio::test]
async fn a_sweep_reads_the_records_this_agent_wrote_and_ignores_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let sandboxes = dir.path().join("sandboxes");
    let sandbox = |name: &str| {
        let path = sandboxes.join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    };
    write_record(&sandbox("t-ok"), &record("1.2.3", true))
        .await
        .unwrap();
    sandbox("t-none");
    std::fs::write(sandbox("t-garbled").join(RECORD), "rm -rf /\n").unwrap();
    // A link could make the agent read (and later delete) a file outside the sandbox.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, "4.5.6\n").unwrap();
    std::os::unix::fs::symlink(&elsewhere, sandbox("t-link").join(RECORD)).unwrap();

    let found: Vec<(String, Record)> = read_records(&sandboxes)
        .into_iter()
        .map(|leftover| (leftover.task, leftover.record))
        .collect();
    assert_eq!(found, [("t-ok".to_string(), record("1.2.3", true))]);
    assert!(
        !sandboxes
            .join("t-ok")
            .join(format!("{RECORD}.new"))
            .exists(),
        "the temporary file was renamed"
    );
    assert!(read_records(&dir.path().join("absent")).is_empty());

    remove_record(&sandboxes.join("t-ok"));
    assert!(read_records(&sandboxes).is_empty());
    remove_record(&sandboxes.join("t-ok")); // already gone: fine
}
