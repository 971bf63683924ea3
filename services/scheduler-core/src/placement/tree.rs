//! A segment tree over the agent order that answers "the first agent at or after position p
//! with at least this much of every resource free" without visiting the full agents between.
//!
//! Each node holds, per resource, the largest free amount of any member agent below it. A
//! subtree whose maximum falls short of the request in any resource cannot hold a fitting
//! agent and is skipped whole. The per-resource maxima may come from different agents, so a
//! subtree that passes can still hold none; the search then backtracks, which in practice
//! stays close to O(log n) because agents are filled front to back (first fit). Agents that
//! are not members (dedicated or draining hosts: no tree user can take them) hold `ABSENT`,
//! below any request.

use super::amounts::Amounts;

/// Free amounts as signed numbers so that "no member here" sorts below every request.
type Maxima = [i64; 5];

const ABSENT: Maxima = [-1; 5];

#[derive(Debug, Clone)]
pub(super) struct FitTree {
    /// Number of real positions; leaves from `len` to `width` are padding (`ABSENT`).
    len: usize,
    /// Leaves per level, a power of two ≥ `len`.
    width: usize,
    /// Heap layout: node 1 is the root, node i has children 2i and 2i+1, leaf p is width + p.
    nodes: Vec<Maxima>,
}

fn signed(amounts: &Amounts) -> Maxima {
    amounts.map(|a| i64::try_from(a).unwrap_or(i64::MAX))
}

fn covers(maxima: &Maxima, request: &Maxima) -> bool {
    maxima.iter().zip(request).all(|(have, want)| have >= want)
}

fn merge(a: &Maxima, b: &Maxima) -> Maxima {
    std::array::from_fn(|i| a[i].max(b[i]))
}

impl FitTree {
    /// A tree over `leaves`, where `None` marks a position that never matches.
    pub(super) fn new(leaves: impl ExactSizeIterator<Item = Option<Amounts>>) -> Self {
        let len = leaves.len();
        let width = len.next_power_of_two().max(1);
        let mut nodes = vec![ABSENT; 2 * width];
        for (pos, leaf) in leaves.enumerate() {
            if let Some(free) = leaf {
                nodes[width + pos] = signed(&free);
            }
        }
        for node in (1..width).rev() {
            nodes[node] = merge(&nodes[2 * node], &nodes[2 * node + 1]);
        }
        Self { len, width, nodes }
    }

    /// Records new free amounts for a member position.
    pub(super) fn update(&mut self, pos: usize, free: &Amounts) {
        let mut node = self.width + pos;
        self.nodes[node] = signed(free);
        while node > 1 {
            node /= 2;
            self.nodes[node] = merge(&self.nodes[2 * node], &self.nodes[2 * node + 1]);
        }
    }

    /// The first member position ≥ `from` whose free amounts cover `request`.
    pub(super) fn first_fit(&self, from: usize, request: &Amounts) -> Option<usize> {
        if from >= self.len {
            return None;
        }
        self.search(1, 0, self.width, from, &signed(request))
    }

    /// Searches node `node`, which spans positions `lo..hi`.
    fn search(
        &self,
        node: usize,
        lo: usize,
        hi: usize,
        from: usize,
        request: &Maxima,
    ) -> Option<usize> {
        if hi <= from || !covers(&self.nodes[node], request) {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo);
        }
        let mid = lo + (hi - lo) / 2;
        self.search(2 * node, lo, mid, from, request)
            .or_else(|| self.search(2 * node + 1, mid, hi, from, request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(cpu: u64, ram: u64) -> Option<Amounts> {
        Some([cpu, ram, 0, 0, 0])
    }

    #[test]
    fn finds_first_covering_member_from_a_position() {
        let mut tree = FitTree::new(
            vec![
                amounts(1, 100),
                amounts(4, 10),
                None,
                amounts(4, 100),
                amounts(8, 800),
            ]
            .into_iter(),
        );
        assert_eq!(tree.first_fit(0, &[1, 50, 0, 0, 0]), Some(0));
        assert_eq!(tree.first_fit(1, &[1, 50, 0, 0, 0]), Some(3));
        // Position 2 is not a member even for an empty request.
        assert_eq!(tree.first_fit(2, &[0; 5]), Some(3));
        assert_eq!(tree.first_fit(0, &[5, 50, 0, 0, 0]), Some(4));
        assert_eq!(tree.first_fit(0, &[9, 0, 0, 0, 0]), None);
        assert_eq!(tree.first_fit(5, &[0; 5]), None);
        tree.update(4, &[2, 800, 0, 0, 0]);
        assert_eq!(tree.first_fit(0, &[5, 50, 0, 0, 0]), None);
        assert_eq!(tree.first_fit(0, &[2, 200, 0, 0, 0]), Some(4));
    }

    #[test]
    fn empty_tree_finds_nothing() {
        let tree = FitTree::new(Vec::new().into_iter());
        assert_eq!(tree.first_fit(0, &[0; 5]), None);
    }
}
