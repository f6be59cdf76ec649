//! Object ids in Stripe's style: a type prefix and random base-62 characters (`cus_Qx3…`).
//!
//! Clients and humans rely on the prefix to tell objects apart in logs; the random part keeps
//! ids unique across resets and across several fakes in one test process.

use rand::RngExt;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A fresh id such as `cus_4fQm0ZcVb2XkPq7LwRt9Ha` (prefix given without the underscore).
pub fn new_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(prefix.len() + 23);
    id.push_str(prefix);
    id.push('_');
    // 22 base-62 digits, 11 from each of two random u64s (u64 division is cheap; u128 division is
    // a library call, and ids are made three times per request).
    for _ in 0..2 {
        let mut bits: u64 = rng.random();
        for _ in 0..11 {
            id.push(ALPHABET[(bits % 62) as usize] as char);
            bits /= 62;
        }
    }
    id
}

/// A fresh id whose last character stands for `tag` (0..62): a fact about the object that can be
/// read back from the id alone with [`id_tag`] (the fake tags payment methods with their test card).
pub fn new_tagged_id(prefix: &str, tag: u8) -> String {
    let mut id = new_id(prefix);
    id.pop();
    id.push(ALPHABET[usize::from(tag) % ALPHABET.len()] as char);
    id
}

/// The tag [`new_tagged_id`] put in an id.
pub fn id_tag(id: &str) -> Option<u8> {
    let last = *id.as_bytes().last()?;
    ALPHABET.iter().position(|c| *c == last).map(|p| p as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_read_back_from_the_id() {
        for tag in [0, 7, 61] {
            let id = new_tagged_id("pm", tag);
            assert_eq!((id.len(), id_tag(&id)), (25, Some(tag)));
        }
    }

    #[test]
    fn ids_carry_the_prefix_and_differ() {
        let a = new_id("cus");
        let b = new_id("cus");
        assert!(a.starts_with("cus_") && a.len() == 26, "{a}");
        assert_ne!(a, b);
    }
}
