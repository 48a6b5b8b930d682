//! `TokenSet`: the set of tokens whose registration changed during a batch's dispatch.
//!
//! # Implementation notes
//! Open addressing with linear probing, Fibonacci hashing, at most half full. Each slot
//! carries the epoch it was written in, and `clear` starts a new epoch: slots of older
//! epochs count as empty. So `clear` is O(1) however large a storm of registrations once
//! made the table, insert and lookup are O(1), and memory is kept for the next batch (no
//! allocation in steady state).

use crate::Token;

/// Fibonacci hashing's multiplier, 2^64 / φ rounded to odd.
pub(super) const FIB: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Debug, Clone, Copy)]
struct Slot {
    token: usize,
    /// The epoch it was written in; an older one means empty.
    epoch: u64,
}

#[derive(Debug)]
pub(super) struct TokenSet {
    /// A power of two in length (or empty), at least twice `len`.
    slots: Vec<Slot>,
    /// The current epoch; starts at 1 so that fresh slots (epoch 0) are empty.
    epoch: u64,
    len: usize,
}

impl TokenSet {
    /// A set with room for `n` tokens before it first grows.
    pub(super) fn with_capacity(n: usize) -> TokenSet {
        let mut set = TokenSet {
            slots: Vec::new(),
            epoch: 1,
            len: 0,
        };
        set.resize((2 * n).next_power_of_two());
        set
    }

    /// Empties the set in O(1), keeping its memory.
    #[inline]
    pub(super) fn clear(&mut self) {
        if self.len > 0 {
            self.len = 0;
            self.epoch += 1;
        }
    }

    // Inline: the loop's dispatch asks it per event, from the user's crate (the loop is
    // generic, so that is where it is compiled).
    #[inline]
    pub(super) fn contains(&self, token: Token) -> bool {
        if self.len == 0 {
            return false;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(token.0);
        loop {
            let slot = self.slots[i];
            if slot.epoch != self.epoch {
                return false;
            }
            if slot.token == token.0 {
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `token`; `false` if it was already there.
    pub(super) fn insert(&mut self, token: Token) -> bool {
        if 2 * (self.len + 1) > self.slots.len() {
            self.resize((2 * self.slots.len()).max(16));
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(token.0);
        loop {
            let slot = &mut self.slots[i];
            if slot.epoch != self.epoch {
                *slot = Slot {
                    token: token.0,
                    epoch: self.epoch,
                };
                self.len += 1;
                return true;
            }
            if slot.token == token.0 {
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    /// The first slot to probe for `token`: the top bits of its Fibonacci product.
    fn home(&self, token: usize) -> usize {
        let bits = self.slots.len().trailing_zeros();
        match bits {
            0 => 0,
            _ => ((token as u64).wrapping_mul(FIB) >> (64 - bits)) as usize,
        }
    }

    /// Moves the current tokens to a table of `size` slots (a power of two).
    fn resize(&mut self, size: usize) {
        let empty = Slot { token: 0, epoch: 0 };
        let old = std::mem::replace(&mut self.slots, vec![empty; size]);
        let epoch = std::mem::replace(&mut self.epoch, 1);
        self.len = 0;
        for slot in old.into_iter().filter(|s| s.epoch == epoch) {
            self.insert(Token(slot.token));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_clear() {
        let mut set = TokenSet::with_capacity(4);
        assert!(set.len == 0 && !set.contains(Token(3)));
        assert!(set.insert(Token(3)));
        assert!(!set.insert(Token(3)));
        assert!(set.contains(Token(3)) && !set.contains(Token(4)));
        set.clear();
        assert!(set.len == 0 && !set.contains(Token(3)));
        assert!(set.insert(Token(4)));
        assert!(!set.contains(Token(3)) && set.contains(Token(4)));
    }

    #[test]
    fn grows_past_its_capacity_and_keeps_every_token() {
        let mut set = TokenSet::with_capacity(2);
        // Strided tokens (multiples of a page) and the extremes of the range.
        let tokens: Vec<Token> = (0..5000)
            .map(|i| Token(i * 4096))
            .chain([Token(usize::MAX), Token(usize::MAX - 1)])
            .collect();
        for (n, &t) in tokens.iter().enumerate() {
            assert!(set.insert(t));
            assert_eq!(set.len, n + 1);
        }
        assert!(tokens.iter().all(|&t| set.contains(t)));
        assert!(!set.contains(Token(4095)));
        set.clear();
        assert!(!tokens.iter().any(|&t| set.contains(t)));
        // The grown table is reused: a second round does not grow it again.
        let size = set.slots.len();
        for &t in &tokens {
            set.insert(t);
        }
        assert_eq!(set.slots.len(), size);
    }
}
