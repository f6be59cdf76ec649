//! A fast, non-cryptographic hasher for the store's id-keyed maps (the FxHash mixing step used
//! inside rustc). Std's SipHash guards against hash flooding by hostile input; ids here are
//! random and the fake serves tests, so the cheaper hash wins (SipHash was ~3.5% of the CPU of a
//! `POST /v1/payment_intents`).

use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap` hasher builder.
pub type FastHash = BuildHasherDefault<FxHasher>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The hasher state.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_map_with_the_fast_hash_finds_what_it_stored() {
        let mut map: HashMap<String, usize, FastHash> = HashMap::default();
        for n in 0..1000 {
            map.insert(format!("cus_{n}"), n);
        }
        assert_eq!(map.get("cus_417"), Some(&417));
        assert_eq!(map.len(), 1000);
    }
}
