//! Pins the encoded bytes of one sample of every event kind (framed, as the journal stores them)
//! and of every value of every status enum. A reordered variant, a changed field or a different
//! bincode configuration changes some bytes and fails here.
//!
//! The file only grows: `AURORA_BLESS=1 cargo test -p aurora-events --test golden` appends
//! entries for new samples and never rewrites an existing one.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value shown, which is what we want

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use aurora_events::codec::{self, decode_value, encode_value};
use aurora_events::event::{CronCollisionPolicy, CronOutcome};
use aurora_events::samples;
use aurora_events::*;
use pretty_assertions::assert_eq;
use strum::IntoEnumIterator;

fn golden_path() -> PathBuf {
    // Read at run time, not baked in at compile time: checkouts sharing a target directory may
    // reuse this test binary, and it must read the golden file of the checkout being tested.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    dir.join("tests/golden/encodings.txt")
}

/// Checks that pinned bytes decode back to the sample they were made from.
type DecodesBack = Box<dyn Fn(&[u8]) -> Result<(), String>>;

/// A sample's name, its encoding, and a check that decoding the pinned bytes gives it back.
struct Sample {
    name: String,
    bytes: Vec<u8>,
    decodes_back: DecodesBack,
}

/// Every event kind twice: `event.*` pins format 1 (journals written before the hash chain,
/// which must still decode), `event2.*` pins format 2 (with a link), as written today.
fn envelope_samples() -> Vec<Sample> {
    let mut all = Vec::new();
    for (i, event) in samples::events().into_iter().enumerate() {
        let seq = i as u64 + 1;
        let unchained = samples::envelope(seq, event);
        let mut linked = unchained.clone();
        linked.prev_hash = Some(ChainHash([seq as u8; 32]));
        let kind = unchained.event.kind();
        for (name, bytes, envelope) in [
            (
                format!("event.{kind}"),
                samples::format_1_record(&unchained),
                unchained,
            ),
            (format!("event2.{kind}"), codec::encode(&linked), linked),
        ] {
            all.push(Sample {
                name,
                bytes,
                decodes_back: Box::new(move |pinned| {
                    let decoded = codec::decode(seq, pinned).map_err(|e| e.to_string())?;
                    if decoded == envelope {
                        Ok(())
                    } else {
                        Err(format!("decoded to {decoded:?}"))
                    }
                }),
            });
        }
    }
    all
}

fn enum_samples<T>(family: &str) -> Vec<Sample>
where
    T: IntoEnumIterator
        + serde::Serialize
        + serde::de::DeserializeOwned
        + PartialEq
        + std::fmt::Debug
        + 'static,
{
    T::iter()
        .map(|value| {
            let name = format!(
                "{family}.{}",
                serde_json::to_value(&value).unwrap().as_str().unwrap()
            );
            let bytes = encode_value(&value);
            Sample {
                name,
                bytes,
                decodes_back: Box::new(move |pinned| match decode_value::<T>(pinned) {
                    Ok(decoded) if decoded == value => Ok(()),
                    Ok(decoded) => Err(format!("decoded to {decoded:?}")),
                    Err(e) => Err(e.to_string()),
                }),
            }
        })
        .collect()
}

fn all_samples() -> Vec<Sample> {
    let mut all = envelope_samples();
    all.extend(enum_samples::<ScheduleStatus>("schedule_status"));
    all.extend(enum_samples::<UpdateStatus>("update_status"));
    all.extend(enum_samples::<InstanceUpdateAction>(
        "instance_update_action",
    ));
    all.extend(enum_samples::<MaintenanceMode>("maintenance_mode"));
    all.extend(enum_samples::<Tier>("tier"));
    all.extend(enum_samples::<CronCollisionPolicy>("cron_collision_policy"));
    all.extend(enum_samples::<CronOutcome>("cron_outcome"));
    all
}

#[test]
fn samples_cover_every_event_kind() {
    let sampled: BTreeSet<EventKind> = samples::events().iter().map(Event::kind).collect();
    let all: BTreeSet<EventKind> = EventKind::iter().collect();
    assert_eq!(
        sampled, all,
        "add a sample of the new event kind to aurora_events::samples::events()"
    );
    // In declaration order, so the seq of each golden sample never changes.
    let order: Vec<EventKind> = samples::events().iter().map(Event::kind).collect();
    assert_eq!(order, EventKind::iter().collect::<Vec<_>>());
}

#[test]
fn encodings_match_the_golden_file() {
    let bless = std::env::var_os("AURORA_BLESS").is_some();
    let text = match std::fs::read_to_string(golden_path()) {
        Ok(text) => text,
        // Only a bless run may start a golden file from nothing; otherwise a missing file would
        // make every sample look "new" instead of failing.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && bless => String::new(),
        Err(e) => panic!("cannot read {}: {e}", golden_path().display()),
    };
    let mut pinned: Vec<(String, String)> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (name, hex) = line.split_once(' ').expect("golden lines are `name hex`");
        pinned.push((name.to_string(), hex.trim().to_string()));
    }
    let samples = all_samples();
    let mut failures = Vec::new();

    for (name, hex) in &pinned {
        let Some(sample) = samples.iter().find(|s| &s.name == name) else {
            failures.push(format!(
                "{name}: pinned but no longer sampled (a variant removed or renamed?)"
            ));
            continue;
        };
        let actual = hex::encode(&sample.bytes);
        if &actual != hex {
            failures.push(format!(
                "{name}: encoding changed\n  pinned {hex}\n  now    {actual}"
            ));
        }
        match hex::decode(hex) {
            Ok(bytes) => {
                if let Err(e) = (sample.decodes_back)(&bytes) {
                    failures.push(format!(
                        "{name}: pinned bytes no longer decode to the sample: {e}"
                    ));
                }
            }
            Err(e) => failures.push(format!("{name}: golden file holds bad hex: {e}")),
        }
    }

    let missing: Vec<&Sample> = samples
        .iter()
        .filter(|s| !pinned.iter().any(|(name, _)| name == &s.name))
        .collect();
    if !missing.is_empty() {
        if bless {
            let mut out = if text.is_empty() {
                "# Pinned encodings; only ever append (see tests/golden.rs).\n".to_string()
            } else {
                text.clone()
            };
            for sample in &missing {
                writeln!(out, "{} {}", sample.name, hex::encode(&sample.bytes)).unwrap();
            }
            std::fs::write(golden_path(), out).unwrap();
        } else {
            for sample in missing {
                failures.push(format!(
                    "{}: not pinned yet; run AURORA_BLESS=1 cargo test -p aurora-events --test golden",
                    sample.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden encodings differ:\n{}",
        failures.join("\n")
    );
}
