//! Proptest strategies for fields whose defaults would make round-trip tests meaningless
//! (NaN is never equal to itself) or needlessly slow (long collections).

use std::collections::BTreeSet;

use proptest::prelude::*;
use uuid::Uuid;

/// A finite, non-negative amount such as cpus or a percentage.
pub fn amount() -> impl Strategy<Value = f64> {
    (0u32..1_000_000).prop_map(|n| f64::from(n) / 100.0)
}

pub fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

pub fn uuids() -> impl Strategy<Value = Vec<Uuid>> {
    proptest::collection::vec(uuid(), 0..4)
}

pub fn names() -> impl Strategy<Value = BTreeSet<String>> {
    proptest::collection::btree_set("[a-z]{1,8}", 0..4)
}

pub fn name_list() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-z/_]{1,8}", 0..4)
}

/// A shared string matching `regex`.
pub fn shared_str(regex: &'static str) -> impl Strategy<Value = std::sync::Arc<str>> {
    proptest::string::string_regex(regex)
        .expect("valid regex")
        .prop_map(std::sync::Arc::from)
}
