//! The free ports of one agent, handed out lowest first.
//!
//! Aurora picks random ports from the offer; here the pick must be deterministic, so it is
//! always the lowest free ones. That also makes it cheap: everything below the last port given
//! out is taken, so the search resumes there instead of at the bottom of the ranges.

use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub(super) struct PortPool {
    /// Sorted, disjoint, non-adjacent inclusive ranges.
    ranges: Vec<(u16, u16)>,
    /// Taken ports; only ports inside `ranges` are kept.
    used: BTreeSet<u16>,
    free: u64,
    /// Every port of `ranges` below this one is taken. Only grows.
    low_water: u32,
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
            ranges: merged,
            used,
            low_water: 0,
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

    /// Takes the `count` lowest free ports, ascending. The caller has checked `free()`; if it
    /// did not, fewer ports come back.
    pub(super) fn take(&mut self, count: usize) -> Vec<u16> {
        let mut taken = Vec::with_capacity(count);
        if count == 0 {
            return taken;
        }
        for &(lo, hi) in &self.ranges {
            if u32::from(hi) < self.low_water {
                continue;
            }
            let start = u32::from(lo).max(self.low_water);
            for port in start..=u32::from(hi) {
                let Ok(port) = u16::try_from(port) else {
                    break;
                };
                if self.used.insert(port) {
                    taken.push(port);
                    self.free -= 1;
                    if taken.len() == count {
                        self.low_water = u32::from(port) + 1;
                        return taken;
                    }
                }
            }
        }
        self.low_water = u32::from(u16::MAX) + 1;
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
        assert_eq!(pool.take(2), vec![11, 13]);
        assert_eq!(pool.take(1), vec![14]);
        assert_eq!(pool.free(), 1);
        assert_eq!(pool.take(3), vec![15]);
        assert_eq!(pool.free(), 0);
        assert_eq!(pool.take(1), Vec::<u16>::new());
    }

    #[test]
    fn top_of_the_port_space() {
        let mut pool = PortPool::new(&[(65534, 65535)], &BTreeSet::new());
        assert_eq!(pool.take(2), vec![65534, 65535]);
        assert_eq!(pool.take(1), Vec::<u16>::new());
    }
}
