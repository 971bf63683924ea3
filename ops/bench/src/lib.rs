//! # aurora-bench
//!
//! Benchmark binaries, run in release by the `ops/bench-*` scripts, that print their figures.
//! Not tests: nothing here asserts a speed. The library holds what the binaries share.
//!
//! May depend on any aurora crate; nothing depends on it.

use hdrhistogram::Histogram;

/// A latency histogram in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 60_000_000, 3) {
        Ok(histogram) => histogram,
        Err(e) => unreachable!("constant bounds are valid: {e}"),
    }
}

/// Formats microseconds as milliseconds with three decimals.
pub fn ms(micros: u64) -> String {
    format!("{:.3}", micros as f64 / 1000.0)
}
