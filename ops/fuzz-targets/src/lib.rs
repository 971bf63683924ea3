//! # aurora-fuzz-targets
//!
//! What each fuzz target does with its input, as plain functions: `ops/fuzz` (cargo-fuzz, on
//! nightly) calls them from its `fuzz_targets/`, and `tests/corpus.rs` replays every file of
//! every corpus (`ops/fuzz/corpus/<target>/`) through them on stable, as part of `./ops/test`,
//! so an input that once broke something stays a test. Each function must not panic (nor
//! abort) on any input; where the code under test promises more (a decoded envelope encodes
//! back to the same bytes), it asserts that too.
//!
//! Targets: [`codec`] (the event codec), [`api`] (what the HTTP API parses from requests),
//! [`config`] (the `.aurora` loader), [`journal_open`] (opening a RocksDB journal whose files
//! were damaged), [`observer_path`] (the observer's checks of the paths URLs name).
//!
//! May depend on any aurora crate; nothing depends on it.

use std::str::FromStr;

use aurora_events::{JobKey, codec};

/// A target's body: takes any bytes; panics only on a finding.
pub type Target = fn(&[u8]);

/// Every target, by name (its corpus directory), with its body.
pub const TARGETS: [(&str, Target); 5] = [
    ("codec", codec),
    ("api", api),
    ("config", config),
    ("journal_open", journal_open),
    ("observer_path", observer_path),
];

/// The observer's checks of what a URL names: a path it accepts is relative, with no `..`,
/// no root and no NUL (what the kernel then opens beneath the sandbox is the observer's
/// `openat2`'s business); a task id or process name it accepts is one plain component.
pub fn observer_path(data: &[u8]) {
    use std::path::Component;

    use aurora_agent::observer::paths::{relative_path, validate_process, validate_task_id};

    let text = String::from_utf8_lossy(data);
    if let Ok(path) = relative_path(&text) {
        assert!(
            path.components().all(|c| matches!(c, Component::Normal(_))),
            "{path:?} from {text:?}"
        );
        assert!(!path.to_string_lossy().contains('\0'));
    }
    for accepted in [
        validate_task_id(&text).is_ok(),
        validate_process(&text).is_ok(),
    ] {
        if accepted {
            assert!(
                !text.is_empty() && text != "." && text != ".." && !text.contains(['/', '\0']),
                "{text:?}"
            );
        }
    }
}

/// The event codec: the first 8 bytes are the seq the record is read at, the rest the
/// record. Decoding never panics; a record in today's format that decodes encodes back to the
/// same bytes, and one in the format before the hash chain decodes unlinked and re-encodes
/// (in today's format) to something that decodes to the same envelope.
pub fn codec(data: &[u8]) {
    let Some((seq, record)) = data.split_first_chunk::<8>() else {
        return;
    };
    let seq = u64::from_le_bytes(*seq);
    if let Ok(envelope) = codec::decode(seq, record) {
        let encoded = codec::encode(&envelope);
        if record.first() == Some(&codec::FORMAT_VERSION_UNCHAINED) {
            assert_eq!(envelope.prev_hash, None, "format 1 has no links");
            assert_eq!(
                codec::decode(seq, &encoded).ok(),
                Some(envelope),
                "an old record re-encodes to the same envelope"
            );
        } else {
            assert_eq!(
                encoded, record,
                "a decoded record must encode to the same bytes"
            );
        }
    }
}

/// What the HTTP API parses from requests: the first byte picks the parser, the rest is its
/// input (as text where the parser reads text).
pub fn api(data: &[u8]) {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(input);
    match which % 7 {
        0 => {
            let _ = aurora_web::api::parse::statuses(&text);
        }
        1 => {
            if let Ok(instances) = aurora_web::api::parse::instances(&text) {
                assert!(instances.len() <= 100_000, "a spec is bounded");
            }
        }
        2 => {
            if let Ok(key) = JobKey::from_str(&text) {
                assert_eq!(key.to_string().parse::<JobKey>().ok(), Some(key));
            }
        }
        3 => {
            let _ = serde_json::from_slice::<aurora_api::CreateJob>(input);
        }
        4 => {
            let _ = serde_json::from_slice::<aurora_api::AgentRegistration>(input);
        }
        5 => {
            // An update's body, and the diff the core computes from it against a small job:
            // whatever the scope names, the answer is bounded.
            if let Ok(request) = serde_json::from_slice::<aurora_api::StartUpdate>(input) {
                let current = (0..3)
                    .map(|i| (i, aurora_events::ConfigHash([1; 32])))
                    .collect();
                let _ = aurora_scheduler_core::update::diff::instructions(
                    &current,
                    aurora_events::ConfigHash([2; 32]),
                    request.instances.min(4000),
                    &request.settings,
                );
            }
        }
        _ => {
            let _ = aurora_scheduler_core::commands::check_endpoint(&text);
        }
    }
}

/// The `.aurora` loader on arbitrary source text: errors, never panics.
pub fn config(data: &[u8]) {
    let source = String::from_utf8_lossy(data);
    let _ = aurora_config::load_str(
        "fuzz.aurora",
        &source,
        &aurora_config::LoadOptions::default(),
    );
}

/// A small RocksDB journal (20 appends) whose files are then damaged as the input says — each
/// 6 bytes: a file (by index, in name order), a 4-byte offset into it, a byte to xor there —
/// and opened again. Opening may refuse; it must not panic or abort, and a journal it opens
/// must read back dense from seq 1.
pub fn journal_open(data: &[u8]) {
    use aurora_journal::conformance::{append, marker, now};
    use aurora_journal::{Journal, RocksJournal, SeqRange};

    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("journal");
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    let made = runtime.block_on(async {
        let journal = RocksJournal::initialise(&path, "fuzz", now()).ok()?;
        for n in 0..20u32 {
            append(&journal, vec![marker(0, n)]).await.ok()?;
        }
        Some(())
    });
    if made.is_none() {
        return;
    }
    let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(&path) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(_) => return,
    };
    files.retain(|f| f.is_file());
    files.sort();
    if files.is_empty() {
        return;
    }
    for damage in data.chunks_exact(6) {
        let file = &files[usize::from(damage[0]) % files.len()];
        let Ok(mut bytes) = std::fs::read(file) else {
            continue;
        };
        if bytes.is_empty() {
            continue;
        }
        let offset = u32::from_le_bytes([damage[1], damage[2], damage[3], damage[4]]) as usize;
        let at = offset % bytes.len();
        bytes[at] ^= damage[5].max(1);
        let _ = std::fs::write(file, &bytes);
    }
    if let Ok(journal) = RocksJournal::open(&path) {
        let last = journal.last_seq();
        if let Ok(envelopes) = runtime.block_on(journal.read(SeqRange::new(1, last))) {
            for (i, envelope) in envelopes.iter().enumerate() {
                assert_eq!(envelope.seq, i as u64 + 1, "a journal reads back dense");
            }
        }
    }
}
