#![no_main]
//! See `aurora_fuzz_targets::observer_path`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aurora_fuzz_targets::observer_path(data));
