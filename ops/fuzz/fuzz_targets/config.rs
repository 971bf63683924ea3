#![no_main]
//! See `aurora_fuzz_targets::config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aurora_fuzz_targets::config(data));
