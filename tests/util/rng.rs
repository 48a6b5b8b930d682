//! A small seeded random number generator for reproducible test data (the echo and
//! HTTP load tests): no dependency, the same sequence on every platform.

/// xorshift64 (Marsaglia 2003, shifts 13/7/17). The state must not be 0, the one state
/// xorshift cannot leave: [`XorShift::new`] ensures it; a literal state is the caller's.
#[derive(Debug, Clone)]
pub struct XorShift(pub u64);

impl XorShift {
    /// A generator from `seed`, scrambled (splitmix64) so that nearby seeds differ.
    pub fn new(seed: u64) -> XorShift {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        XorShift((z ^ (z >> 31)) | 1)
    }

    /// The next number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n as u64) as usize
    }
}
