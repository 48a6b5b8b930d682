//! The hasher of the loop's registry (descriptor → token).
//!
//! The keys are descriptor numbers: small and dense on Unix (lowest free first), handles
//! in multiples of 4 on Windows. `reregister`, which a Oneshot loop calls for every event,
//! looks its descriptor up once, and SipHash showed in that path's profile. What SipHash
//! buys, keys an adversary cannot make collide, matters little here: a peer chooses only
//! which of its connections stay open and code in the process can `dup2` onto a chosen
//! number, but the numbers are bounded by the open-file limit, the table never shrinks,
//! and a collision only lengthens a probe.
//!
//! One Fibonacci multiply mixes the number into the product, best in its high half;
//! `finish` swaps the halves, so that the high half lands in the low bits, which pick
//! hashbrown's bucket, and in the whole of a 32-bit target's hash, whose top 7 bits are
//! the tag (a 64-bit target's tag comes from product bits 25–31, mixed enough). Keys in
//! strides of a power of two (Windows handles, numbers a program opens in pairs) then
//! spread like random keys.

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
        for &byte in bytes {
            self.add(u64::from(byte));
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
        // The product's low bits repeat the key's (an odd multiplier keeps its trailing
        // zeros) and its best-mixed bits are the high ones.
        self.0.rotate_left(32)
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

    /// hashbrown takes the bucket from the low bits and a 7-bit tag from the top ones (of
    /// the hash cut to 32 bits on a 32-bit target). A table of 4,096 buckets holds up to
    /// 3,584 keys (7/8): the first 3,584 numbers in strides of 1 up to 1,024 must fill it
    /// as evenly as random keys would (whose fullest bucket holds about 7; a hash that
    /// keeps the key's low zero bits, or folds the high half onto the low one, puts 11 to
    /// 20 in one bucket for strides 8 to 64), and use every tag, seen by either width.
    #[test]
    fn strided_numbers_spread_over_buckets_and_tags() {
        let tag64: fn(u64) -> u64 = |h| h >> 57;
        let tag32: fn(u64) -> u64 = |h| u64::from(h as u32 >> 25);
        for (width, tag) in [(64, tag64), (32, tag32)] {
            for shift in 0..=10 {
                let mut load = vec![0u32; 4096];
                let mut tags = HashSet::new();
                for i in 0..3584u64 {
                    let h = hash(i << shift);
                    load[(h & 4095) as usize] += 1;
                    tags.insert(tag(h));
                }
                let stride = 1 << shift;
                let fullest = load.iter().max().copied().unwrap_or(0);
                assert!(
                    fullest <= 8,
                    "{width}-bit, stride {stride}: {fullest} in a bucket"
                );
                assert_eq!(tags.len(), 128, "{width}-bit, stride {stride}: tags");
            }
        }
    }

    /// A Unix descriptor (`i32`) and a Windows handle (`u64`) with the same value hash
    /// alike, so neither width is cut short.
    #[test]
    fn every_descriptor_width_hashes_the_whole_number() {
        for n in (0..70_000).chain([i32::MAX - 1, i32::MAX]) {
            let wide = n as u64;
            assert_eq!(hash(n), hash(wide), "{n}");
            assert_eq!(hash(n as u32), hash(wide as usize), "{n}");
        }
        assert_ne!(hash(1i32 << 20), hash(0i32));
    }
}
