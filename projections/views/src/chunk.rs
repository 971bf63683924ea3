//! [`ChunkVec`]: a vector that is cheap to clone and copies only what changes afterwards.
//!
//! Time travel keeps a copy of the whole folded view every N events. A deep copy would cost
//! time and memory in proportion to the cluster, for every checkpoint. Here the elements live in
//! fixed-size chunks behind [`Arc`]s: a clone copies one pointer per chunk, and a write after a
//! clone copies only the chunk it lands in (copy-on-write through [`Arc::make_mut`]).
//!
//! Views index these vectors by dense ids handed out in order of first appearance (see
//! `symbols.rs`), so the records that change — recent tasks, active jobs — sit together in the
//! last chunks, and old chunks stay shared by every checkpoint that follows them.

use std::sync::Arc;

use crate::symbols::Sym;

/// Elements per chunk unless a vector says otherwise: small enough that copying a chunk on
/// write is cheap (64 pointers when the elements are `Option<Arc<_>>`), large enough that the
/// chunk table stays short.
pub(crate) const CHUNK: usize = 64;

/// A growable vector of `T` in shared, copy-on-write chunks of `N` elements. Indexes past the
/// end read as absent; writing there grows the vector with `T::default()`.
///
/// Chunks are allocated whole (`Arc<[T]>`, the elements inline after the counts) so that
/// reaching an element costs one pointer hop from the chunk table, not two. Copying a chunk
/// whose elements are `Arc`s also touches each element's count, so vectors whose writes are
/// scattered (tasks: pruning removes old ones anywhere) use smaller chunks.
#[derive(Debug, Clone)]
pub(crate) struct ChunkVec<T, const N: usize = CHUNK> {
    chunks: Vec<Arc<[T]>>,
    len: usize,
}

impl<T, const N: usize> Default for ChunkVec<T, N> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Clone + Default, const N: usize> ChunkVec<T, N> {
    /// Number of slots (including default-filled ones).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, index: Sym) -> Option<&T> {
        let index = index as usize;
        if index >= self.len {
            return None;
        }
        self.chunks
            .get(index / N)
            .and_then(|chunk| chunk.get(index % N))
    }

    /// The slot at `index` for writing, growing the vector with defaults if needed. Copies the
    /// chunk first when a clone of this vector still shares it.
    pub(crate) fn slot(&mut self, index: Sym) -> &mut T {
        let index = index as usize;
        if index >= self.len {
            self.grow_to(index + 1);
        }
        let chunk = Arc::make_mut(&mut self.chunks[index / N]);
        &mut chunk[index % N]
    }

    /// The slot at `index` for writing if it exists; never grows.
    pub(crate) fn slot_if_present(&mut self, index: Sym) -> Option<&mut T> {
        let index = index as usize;
        if index >= self.len {
            return None;
        }
        let chunk = Arc::make_mut(self.chunks.get_mut(index / N)?);
        chunk.get_mut(index % N)
    }

    /// How many vectors share the chunk holding `index` (0 past the end). Read ahead of a
    /// write: it is what the copy-on-write check reads.
    pub(crate) fn sharing(&self, index: Sym) -> usize {
        self.chunks
            .get(index as usize / N)
            .map_or(0, Arc::strong_count)
    }

    fn grow_to(&mut self, len: usize) {
        while self.chunks.len() * N < len {
            self.chunks
                .push((0..N).map(|_| T::default()).collect::<Arc<[T]>>());
        }
        self.len = len;
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks
            .iter()
            .flat_map(|chunk| chunk.iter())
            .take(self.len)
    }

    /// Every slot with its index.
    pub(crate) fn iter_ids(&self) -> impl Iterator<Item = (Sym, &T)> {
        // `len` never exceeds `Sym::MAX + 1`: slots are only made for `Sym` indexes.
        (0..=Sym::MAX).zip(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_after_a_clone_leave_the_clone_alone() {
        let mut v: ChunkVec<u32> = ChunkVec::default();
        for i in 0..200 {
            *v.slot(i) = i;
        }
        let snapshot = v.clone();
        *v.slot(5) = 1000;
        *v.slot(300) = 7;
        assert_eq!(snapshot.get(5), Some(&5));
        assert_eq!(snapshot.get(300), None);
        assert_eq!(snapshot.len(), 200);
        assert_eq!(v.get(5), Some(&1000));
        assert_eq!(v.get(250), Some(&0), "gaps are filled with defaults");
        assert_eq!(v.get(300), Some(&7));
        assert_eq!(v.len(), 301);
        assert_eq!(v.iter().count(), 301);
        // Chunks not written since the clone are still shared.
        assert!(Arc::ptr_eq(&v.chunks[1], &snapshot.chunks[1]));
        assert!(!Arc::ptr_eq(&v.chunks[0], &snapshot.chunks[0]));
    }

    #[test]
    fn slot_if_present_never_grows() {
        let mut v: ChunkVec<u8> = ChunkVec::default();
        assert!(v.slot_if_present(0).is_none());
        *v.slot(0) = 1;
        assert_eq!(v.slot_if_present(0).copied(), Some(1));
        assert!(v.slot_if_present(1).is_none());
        assert_eq!(v.len(), 1);
    }
}
