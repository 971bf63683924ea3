#![no_main]
//! See `aurora_fuzz_targets::api`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aurora_fuzz_targets::api(data));
