//! An append-only log stored in fixed-size chunks, addressed by a position that never changes,
//! that can forget its oldest entries (a ring) and leave holes where entries were removed.
//!
//! The fake keeps objects, events, requests and deliveries for the life of a run (millions under
//! load). A plain `Vec` would copy all of them each time it grows, stalling every request waiting
//! on the store lock; chunks never move. Stable positions let a cursor (`starting_after`) or an
//! index find an entry in O(1). With a limit, the oldest entries are dropped as new ones arrive
//! and the number dropped is counted, so a long load run holds a bounded amount of memory.

use std::collections::VecDeque;

/// Entries per chunk.
const CHUNK: usize = 4096;

/// A chunked log with stable positions, an optional size limit and tombstones.
#[derive(Debug)]
pub struct Ring<T> {
    chunks: VecDeque<Vec<Option<T>>>,
    /// Position of `chunks[0][0]`.
    base: u64,
    /// Position of the oldest retained entry.
    start: u64,
    /// Position the next entry gets.
    end: u64,
    limit: Option<usize>,
    dropped: u64,
}

impl<T> Default for Ring<T> {
    fn default() -> Self {
        Ring { chunks: VecDeque::new(), base: 0, start: 0, end: 0, limit: None, dropped: 0 }
    }
}

impl<T> Ring<T> {
    /// Appends an entry and returns its position; drops the oldest if over the limit.
    pub fn push(&mut self, item: T) -> u64 {
        let position = self.append(item);
        self.set_limit(self.limit);
        position
    }

    /// Like [`Ring::push`], handing back the entry dropped to make room (for logs with an index
    /// beside them, which must forget it too).
    pub fn push_and_evict(&mut self, item: T) -> (u64, Option<T>) {
        let position = self.append(item);
        let over = self.limit.is_some_and(|limit| self.retained() > limit);
        (position, if over { self.drop_oldest() } else { None })
    }

    fn append(&mut self, item: T) -> u64 {
        let position = self.end;
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push(Some(item)),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(Some(item));
                self.chunks.push_back(chunk);
            }
        }
        self.end += 1;
        position
    }

    /// Keeps at most `limit` entries from now on (`None`: keep everything); returns what it dropped.
    pub fn set_limit(&mut self, limit: Option<usize>) -> Vec<T> {
        self.limit = limit;
        let mut evicted = Vec::new();
        if let Some(limit) = limit {
            while self.retained() > limit {
                evicted.extend(self.drop_oldest());
            }
        }
        evicted
    }

    /// The limit in force.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// How many entries were forgotten because of the limit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Entries retained (holes left by [`Ring::remove`] included).
    pub fn retained(&self) -> usize {
        (self.end - self.start) as usize
    }

    fn drop_oldest(&mut self) -> Option<T> {
        if self.start == self.end {
            return None;
        }
        let item = self.slot_mut(self.start).and_then(Option::take);
        self.start += 1;
        self.dropped += 1;
        if self.start - self.base >= CHUNK as u64 {
            self.chunks.pop_front();
            self.base += CHUNK as u64;
        }
        item
    }

    fn slot(&self, position: u64) -> Option<&Option<T>> {
        if position < self.start || position >= self.end {
            return None;
        }
        let offset = (position - self.base) as usize;
        self.chunks.get(offset / CHUNK)?.get(offset % CHUNK)
    }

    fn slot_mut(&mut self, position: u64) -> Option<&mut Option<T>> {
        if position < self.start || position >= self.end {
            return None;
        }
        let offset = (position - self.base) as usize;
        self.chunks.get_mut(offset / CHUNK)?.get_mut(offset % CHUNK)
    }

    /// The entry at `position`, if retained and not removed.
    pub fn get(&self, position: u64) -> Option<&T> {
        self.slot(position)?.as_ref()
    }

    /// Leaves a hole at `position` and returns what was there.
    pub fn remove(&mut self, position: u64) -> Option<T> {
        self.slot_mut(position)?.take()
    }

    /// Retained entries with their positions, oldest first (reverse for newest first).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, &T)> {
        self.range(self.start, self.end)
    }

    /// Entries in `from..to` (clamped to what is retained), with their positions.
    pub fn range(&self, from: u64, to: u64) -> impl DoubleEndedIterator<Item = (u64, &T)> {
        let from = from.max(self.start);
        let to = to.min(self.end).max(from);
        (from..to).filter_map(move |position| self.get(position).map(|item| (position, item)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_growth_and_holes() {
        let mut ring = Ring::default();
        for n in 0..10_000u32 {
            assert_eq!(ring.push(n), u64::from(n));
        }
        ring.remove(1);
        assert_eq!(ring.get(4_097), Some(&4_097));
        assert_eq!(ring.get(1), None);
        let newest: Vec<u32> = ring.iter().rev().take(2).map(|(_, n)| *n).collect();
        assert_eq!(newest, [9_999, 9_998]);
        assert_eq!(ring.iter().count(), 9_999);
    }

    #[test]
    fn a_limited_ring_forgets_the_oldest_and_counts_them() {
        let mut ring = Ring::default();
        ring.set_limit(Some(5_000));

        for n in 0..12_000u32 {
            ring.push(n);
        }
        assert_eq!(ring.retained(), 5_000);
        assert_eq!(ring.dropped(), 7_000);
        assert_eq!(ring.get(6_999), None);
        assert_eq!(ring.get(7_000), Some(&7_000));
        assert_eq!(ring.iter().next().map(|(p, _)| p), Some(7_000));
        // Whole chunks before the oldest entry are freed.
        assert!(ring.chunks.len() <= 5_000 / CHUNK + 2);
    }

    #[test]
    fn lowering_the_limit_drops_at_once() {
        let mut ring = Ring::default();
        for n in 0..10u32 {
            ring.push(n);
        }
        assert_eq!(ring.set_limit(Some(3)), [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(ring.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [7, 8, 9]);
        assert_eq!(ring.dropped(), 7);
        assert_eq!(ring.push_and_evict(10), (10, Some(7)));
    }
}
