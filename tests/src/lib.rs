//! # aurora-system-tests
//!
//! Tests that cross process boundaries (real binaries, real RocksDB directories, `kill -9`) and
//! the deterministic cluster simulator ([`sim`]) that drives the pure scheduler core with a
//! virtual clock and hollow agents. `src/bin/` holds the child processes the tests start and kill.
//!
//! May depend on any aurora crate; nothing depends on it.

pub mod sim;

/// How many events the crash child puts in batch `batch` of writer `writer` (1 to 5), so the
/// test can tell a whole batch from a torn one without any record of what was written.
pub fn crash_batch_size(writer: u32, batch: u32) -> u32 {
    1 + (writer.wrapping_mul(31).wrapping_add(batch.wrapping_mul(17))) % 5
}

/// Events of one batch are numbered `batch * BATCH_STRIDE + i` by the crash child.
pub const BATCH_STRIDE: u32 = 8;
