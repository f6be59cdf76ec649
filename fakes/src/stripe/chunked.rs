//! An append-mostly list stored in fixed-size chunks. The fake keeps every object, event and
//! request for the life of a run (hundreds of thousands under load); a plain `Vec` would copy all
//! of them each time it grows, stalling every request waiting on the store lock for milliseconds.

/// Elements per chunk.
const CHUNK: usize = 4096;

/// A list that never moves existing elements when it grows.
#[derive(Debug, Clone)]
pub struct Chunked<T> {
    chunks: Vec<Vec<T>>,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked { chunks: Vec::new() }
    }
}

impl<T> Chunked<T> {
    /// Appends at the end.
    pub fn push(&mut self, item: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(item),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(item);
                self.chunks.push(chunk);
            }
        }
    }

    /// Oldest first (reversible for newest first).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// Keeps only the elements for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        for chunk in &mut self.chunks {
            chunk.retain(&mut keep);
        }
        self.chunks.retain(|chunk| !chunk.is_empty());
    }
}

impl<T: Clone> Chunked<T> {
    /// A copy as one `Vec`, oldest first.
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_survives_growth_and_removal() {
        let mut list = Chunked::default();
        for n in 0..10_000 {
            list.push(n);
        }
        list.retain(|n| n % 2 == 0);
        list.push(10_001);
        let all = list.to_vec();
        assert_eq!(all.len(), 5_001);
        assert_eq!(all[..3], [0, 2, 4]);
        assert_eq!(list.iter().next_back(), Some(&10_001));
    }
}
