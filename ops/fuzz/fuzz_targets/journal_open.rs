#![no_main]
//! See `aurora_fuzz_targets::journal_open`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aurora_fuzz_targets::journal_open(data));
