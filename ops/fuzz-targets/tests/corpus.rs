//! Every input of every fuzz corpus (`ops/fuzz/corpus/<target>/`) through its target, on
//! stable: what the fuzzers found (and the seeds they start from) stays a test.
//! `AURORA_BLESS=1` (re)writes the seeds.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::path::{Path, PathBuf};

use aurora_fuzz_targets::TARGETS;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

#[test]
fn every_corpus_input_passes_its_target() {
    if std::env::var_os("AURORA_BLESS").is_some() {
        write_seeds();
    }
    for (target, body) in TARGETS {
        let dir = corpus(target);
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{target} has a corpus");
        for input in inputs {
            let bytes = std::fs::read(&input).unwrap();
            // A panic names the input, so it can be run again alone.
            eprintln!("{target}: {}", input.display());
            body(&bytes);
        }
    }
}

/// The seeds each fuzzer starts from: valid inputs of every shape the target reads.
fn write_seeds() {
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    for (i, event) in aurora_events::samples::events().into_iter().enumerate() {
        let seq = i as u64 + 1;
        let envelope = aurora_events::samples::envelope(seq, event);
        let mut input = seq.to_le_bytes().to_vec();
        input.extend(aurora_events::codec::encode(&envelope));
        write(
            "codec",
            &format!("seed-{i:02}-{}", envelope.event.kind()),
            &input,
        );
    }
    let config = serde_json::to_string(&aurora_events::samples::task_config()).unwrap();
    let api: [(u8, String); 8] = [
        (0, "RUNNING,pending, FAILED".into()),
        (1, "0-2,5,7-9".into()),
        (1, "0-99999".into()),
        (2, "www-data/prod/hello".into()),
        (3, format!(r#"{{"job":"www-data/prod/hello","config":{config},"instances":2}}"#)),
        (4, r#"{"agent":"a1","host":"h1","capacity":{"cpus":8.0,"ram_mb":1024,"disk_mb":1024,"gpus":0,"port_ranges":[[31000,32000]]},"attributes":[],"endpoint":"http://h1:1338","running":[]}"#.into()),
        (5, "http://host-1:1338/".into()),
        (5, "javascript:alert(1)".into()),
    ];
    for (i, (which, text)) in api.iter().enumerate() {
        let mut input = vec![*which];
        input.extend(text.as_bytes());
        write("api", &format!("seed-{i:02}"), &input);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for folder in ["examples", "cli/config/tests/fixtures"] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "aurora") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                write("config", &name, &std::fs::read(&path).unwrap());
            }
        }
    }
    for (i, path) in [
        "",
        "stdout",
        "a/b.txt",
        ".logs/hello/0/stdout",
        "..",
        "a/../b",
        "/etc/passwd",
        "x\0y",
        "..hidden/x..y",
    ]
    .iter()
    .enumerate()
    {
        write("observer_path", &format!("seed-{i:02}"), path.as_bytes());
    }
    // No damage; one byte of the first file; a byte in each of three files.
    write("journal_open", "seed-00-none", b"");
    write("journal_open", "seed-01-one", &[0, 100, 0, 0, 0, 0x40]);
    write(
        "journal_open",
        "seed-02-three",
        &[
            1, 7, 0, 0, 0, 1, 2, 200, 0, 0, 0, 0x80, 3, 64, 1, 0, 0, 0x10,
        ],
    );
}
