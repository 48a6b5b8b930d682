//! The hasher of the loop's registry (descriptor → token).
//!
//! The keys are descriptor numbers the kernel hands out (small, dense, lowest first;
//! Windows sockets are handles, multiples of 4), never values an attacker picks, so the
//! protection SipHash buys against chosen keys is worth nothing here, and its cost is not:
//! `reregister`, which a Oneshot loop calls for every event, looks its descriptor up once.
//! One Fibonacci multiply spreads the numbers over the high bits, and `finish` folds them
//! onto the low ones, so both the bucket (low bits) and the control byte (top bits) differ
//! between neighbours, multiples of 4 included.

use std::hash::{BuildHasherDefault, Hasher};

use super::token_set::FIB;

/// [`BuildHasherDefault`] of [`FdHasher`].
pub(super) type BuildFdHasher = BuildHasherDefault<FdHasher>;

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FdHasher(u64);

impl FdHasher {
    #[inline]
    fn add(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(29) ^ n).wrapping_mul(FIB);
    }
}

impl Hasher for FdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for descriptor numbers (integers take the methods below).
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_i32(&mut self, n: i32) {
        self.add(u64::from(n as u32));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The product's low bits repeat the key's (an odd multiplier keeps trailing zeros).
        self.0 ^ (self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hash};

    use super::*;

    fn hash<T: Hash>(n: T) -> u64 {
        BuildFdHasher::default().hash_one(n)
    }

    /// hashbrown takes the bucket from the low bits and a 7-bit tag from the top ones: the
    /// first 4,096 descriptor numbers, and as many Windows-like handles (multiples of 4),
    /// must spread over the buckets of a table twice their number as well as random keys
    /// would (79 % distinct; keys that kept their low zero bits would reach 50 %), and use
    /// every tag.
    #[test]
    fn neighbouring_numbers_spread_over_buckets_and_tags() {
        for step in [1u64, 4] {
            let keys: Vec<u64> = (0..4096).map(|i| hash(i * step)).collect();
            let buckets: HashSet<u64> = keys.iter().map(|h| h & 8191).collect();
            assert!(
                buckets.len() > 4096 * 7 / 10,
                "step {step}: {}",
                buckets.len()
            );
            let tags: HashSet<u64> = keys.iter().map(|h| h >> 57).collect();
            assert_eq!(tags.len(), 128, "step {step}");
        }
        // Every integer width a descriptor type has hashes the same number alike.
        assert_eq!(hash(7i32), hash(7u32));
        assert_eq!(hash(7u64), hash(7usize));
        assert_eq!(hash(7u32), hash(7u64));
    }
}
