//! The free ports of one agent, handed out from a spot that depends on the task.
//!
//! Aurora picks random ports from the offer. Lowest first would hand a replacement the very
//! port its predecessor just freed (or that an orphaned process of it still holds), and the
//! replacement would die with "Address already in use". So each task starts looking at an
//! offset within the agent's ports derived from a stable hash of its id ([`port_seed`]), and
//! takes the free ports from there upwards, wrapping around at the top of the ranges: spread
//! like Aurora's, yet deterministic, so a replay picks the same ports. A replacement has a
//! new id, so it almost never starts where its predecessor did.

use std::collections::BTreeSet;

use aurora_events::TaskId;

/// Where in an agent's ports the search for `task`'s ports starts: FNV-1a over the id's
/// bytes, then a 64-bit finalizer (so every byte reaches the low bits a modulus keeps).
/// Stable across runs, platforms and versions; it is part of what a pass decides, so it must
/// never change for a given id (std's hashers make no such promise).
pub fn port_seed(task: &TaskId) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut hash = OFFSET;
    for byte in task.as_str().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    // splitmix64's finalizer.
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[derive(Debug, Clone)]
pub(super) struct PortPool {
    /// Sorted, disjoint, non-adjacent inclusive ranges.
    ranges: Vec<(u16, u16)>,
    /// Taken ports; only ports inside `ranges` are kept.
    used: BTreeSet<u16>,
    /// How many ports `ranges` hold.
    total: u64,
    free: u64,
}

impl PortPool {
    /// A pool over `ranges` (any order; overlapping ranges merge, inverted ones are ignored)
    /// with `used` already taken.
    pub(super) fn new(ranges: &[(u16, u16)], used: &BTreeSet<u16>) -> Self {
        let mut sorted: Vec<(u16, u16)> =
            ranges.iter().copied().filter(|(lo, hi)| lo <= hi).collect();
        sorted.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(sorted.len());
        for (lo, hi) in sorted {
            match merged.last_mut() {
                Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
                Some(_) | None => merged.push((lo, hi)),
            }
        }
        let used: BTreeSet<u16> = used
            .iter()
            .copied()
            .filter(|port| Self::inside(&merged, *port))
            .collect();
        let total: u64 = merged
            .iter()
            .map(|(lo, hi)| u64::from(*hi) - u64::from(*lo) + 1)
            .sum();
        Self {
            free: total - used.len() as u64,
            total,
            ranges: merged,
            used,
        }
    }

    fn inside(ranges: &[(u16, u16)], port: u16) -> bool {
        // Ranges are sorted and disjoint: the only candidate is the last one starting at or
        // below `port`.
        let after = ranges.partition_point(|(lo, _)| *lo <= port);
        after > 0 && ranges[after - 1].1 >= port
    }

    /// How many ports are still free.
    pub(super) fn free(&self) -> u64 {
        self.free
    }

    /// The port at `index` counting through the ranges from the bottom (`index < total`).
    fn nth(&self, mut index: u64) -> (usize, u16) {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            let size = u64::from(hi) - u64::from(lo) + 1;
            if index < size {
                // index < size, so lo + index <= hi: it fits in a u16.
                return (i, lo + index as u16);
            }
            index -= size;
        }
        (0, self.ranges[0].0)
    }

    /// Takes `count` free ports for a task whose [`port_seed`] is `seed`: the free ports
    /// from the seed's offset within the ranges upwards, wrapping to the bottom, in the order
    /// found. The caller has checked `free()`; if it did not, fewer ports come back.
    pub(super) fn take(&mut self, count: usize, seed: u64) -> Vec<u16> {
        let mut taken = Vec::with_capacity(count);
        if count == 0 || self.free == 0 {
            return taken;
        }
        let (first, start) = self.nth(seed % self.total);
        let (bottom, top) = self.ranges[first];
        // From `start` to the top of its range, the ranges above it, the ranges below it, and
        // last the part of its range below `start`.
        let spans = std::iter::once((start, top))
            .chain(self.ranges[first + 1..].iter().copied())
            .chain(self.ranges[..first].iter().copied())
            .chain((start > bottom).then(|| (bottom, start - 1)));
        for (lo, hi) in spans {
            for port in lo..=hi {
                if self.used.insert(port) {
                    taken.push(port);
                    self.free -= 1;
                    if taken.len() == count || self.free == 0 {
                        return taken;
                    }
                }
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_ranges_and_skips_used_ports() {
        let used: BTreeSet<u16> = [10, 12, 99].into_iter().collect();
        let mut pool = PortPool::new(&[(13, 14), (10, 12), (20, 19), (14, 15)], &used);
        assert_eq!(pool.ranges, vec![(10, 15)]);
        assert_eq!(pool.free(), 4);
        assert_eq!(pool.take(2, 0), vec![11, 13]);
        assert_eq!(pool.take(1, 0), vec![14]);
        assert_eq!(pool.free(), 1);
        assert_eq!(pool.take(3, 0), vec![15]);
        assert_eq!(pool.free(), 0);
        assert_eq!(pool.take(1, 0), Vec::<u16>::new());
    }

    #[test]
    fn starts_at_the_seeds_offset_and_wraps_through_every_range() {
        // A seed is an offset, modulo the pool's size. Ports 10-12 and 20-21: 3 is port 20.
        let used: BTreeSet<u16> = [21].into_iter().collect();
        let mut pool = PortPool::new(&[(20, 21), (10, 12)], &used);
        assert_eq!(pool.take(2, 3), vec![20, 10]);
        // Offset 6 is offset 1 (seeds are taken modulo the 5 ports): port 11.
        assert_eq!(pool.take(2, 6), vec![11, 12]);
        assert_eq!(pool.free(), 0);
        // Inside one range, the part below the start comes last.
        let mut pool = PortPool::new(&[(100, 104)], &BTreeSet::new());
        assert_eq!(pool.take(5, 3), vec![103, 104, 100, 101, 102]);
    }

    #[test]
    fn top_of_the_port_space() {
        let mut pool = PortPool::new(&[(65534, 65535)], &BTreeSet::new());
        assert_eq!(pool.take(2, 1), vec![65535, 65534]);
        assert_eq!(pool.take(1, 0), Vec::<u16>::new());
        let mut pool = PortPool::new(&[(0, 65535)], &BTreeSet::new());
        assert_eq!(pool.free(), 65536);
        assert_eq!(pool.take(2, 65535), vec![65535, 0]);
    }

    #[test]
    fn seeds_are_stable_and_spread() {
        // Pinned: a replay on any machine or version must pick the same ports.
        let seed = port_seed(&TaskId::from_raw("www-data-prod-hello-0-fixed".to_string()));
        assert_eq!(
            seed,
            port_seed(&TaskId::from_raw("www-data-prod-hello-0-fixed".to_string()))
        );
        // FNV-1a 64 + splitmix64's finalizer, as computed independently.
        assert_eq!(seed, 16_515_235_309_256_452_977);
        // Ids differing in one character land far apart in a 1000-port range.
        let offsets: BTreeSet<u64> = (0..100)
            .map(|n| port_seed(&TaskId::from_raw(format!("www-data-prod-hello-{n}-fixed"))) % 1000)
            .collect();
        assert!(offsets.len() > 90, "{offsets:?}");
    }
}
