//! `FixedBuf`: the storage behind `Events`, a vector that never holds more than a fixed
//! capacity and never reallocates, with the one `unsafe` step a kernel-filled array needs.

use std::collections::TryReserveError;
use std::mem::MaybeUninit;

use crate::{Events, Selector};

/// At most `capacity` values in memory reserved once; no method grows it. The fields
/// stay private so that the allocation always has room for `capacity` values: what
/// `spare_mut` hands out is real memory, whatever the caller did before.
pub(crate) struct FixedBuf<T> {
    vec: Vec<T>,
    capacity: usize,
}

impl<T> FixedBuf<T> {
    /// Reserves room for exactly `capacity` values, or fails without panicking.
    pub(crate) fn try_with_capacity(capacity: usize) -> Result<FixedBuf<T>, TryReserveError> {
        let mut vec = Vec::new();
        vec.try_reserve_exact(capacity)?;
        Ok(FixedBuf { vec, capacity })
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn as_slice(&self) -> &[T] {
        &self.vec
    }

    pub(crate) fn clear(&mut self) {
        self.vec.clear();
    }

    /// Appends `value`, or hands it back when `capacity` values are stored.
    #[inline]
    pub(crate) fn push(&mut self, value: T) -> Result<(), T> {
        if self.vec.len() >= self.capacity {
            return Err(value);
        }
        // Within the reserved room: never reallocates.
        self.vec.push(value);
        Ok(())
    }

    /// Keeps the values for which `keep` is true, in order.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.vec.retain(keep);
    }

    /// Removes the value at `index`, keeping the others in order.
    pub(crate) fn remove(&mut self, index: usize) -> Option<T> {
        (index < self.vec.len()).then(|| self.vec.remove(index))
    }

    /// The `capacity - len` slots after the stored values.
    #[inline]
    pub(crate) fn spare_mut(&mut self) -> &mut [MaybeUninit<T>] {
        let room = self.capacity - self.vec.len();
        // `try_with_capacity` reserved at least `capacity`, and nothing shrinks `vec`.
        &mut self.vec.spare_capacity_mut()[..room]
    }

    /// Stores the first `added` slots of [`spare_mut`](FixedBuf::spare_mut).
    ///
    /// # Safety
    /// `added <= spare_mut().len()`, and those slots were initialised since `spare_mut`
    /// was called, with no other call on `self` in between.
    #[inline]
    pub(crate) unsafe fn commit(&mut self, added: usize) {
        debug_assert!(added <= self.capacity - self.vec.len());
        // SAFETY: the caller initialised the `added` slots right after the stored values,
        // and they lie within the reserved room (see `spare_mut`).
        unsafe { self.vec.set_len(self.vec.len() + added) }
    }
}

/// The kernel-filled fast path of [`Events`], here beside the crate's other `unsafe` code.
impl<S: Selector> Events<S> {
    /// The room left, as uninitialised slots, for a backend whose system call writes a
    /// whole array (`epoll_wait`, `kevent`): hand the kernel this slice's pointer and
    /// length, then call [`set_len`](Events::set_len) with the count it wrote.
    ///
    /// The length is `capacity() - len()`, and the slots are memory the buffer owns, so a
    /// system call told that length stays inside the allocation whatever safe code did to
    /// the buffer before. Writing to the slots is safe; they count only after `set_len`.
    #[inline]
    pub fn spare_capacity_mut(&mut self) -> &mut [MaybeUninit<S::RawEvent>] {
        self.raw.spare_mut()
    }

    /// Counts the first `added` slots of
    /// [`spare_capacity_mut`](Events::spare_capacity_mut) as stored events.
    ///
    /// # Safety
    /// `added` is at most the length `spare_capacity_mut` returned, and those slots were
    /// initialised since that call, with no other call on this buffer in between.
    #[inline]
    pub unsafe fn set_len(&mut self, added: usize) {
        // SAFETY: the caller's contract is `commit`'s.
        unsafe { self.raw.commit(added) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_stops_at_capacity_and_spare_is_the_room_left() {
        let mut buf = FixedBuf::try_with_capacity(3).expect("reserve");
        assert_eq!(buf.spare_mut().len(), 3);
        assert_eq!(buf.push(1u32), Ok(()));
        assert_eq!(buf.spare_mut().len(), 2);
        buf.spare_mut()[0].write(2);
        // SAFETY: slot 0 of the spare room was just written.
        unsafe { buf.commit(1) };
        assert_eq!(buf.push(3), Ok(()));
        assert_eq!(buf.push(4), Err(4));
        assert!(buf.spare_mut().is_empty());
        assert_eq!(buf.as_slice(), [1, 2, 3]);
        buf.retain(|&v| v != 2);
        assert_eq!(buf.as_slice(), [1, 3]);
        assert_eq!(buf.push(2), Ok(()));
        assert_eq!(buf.remove(2), Some(2));
        assert_eq!(buf.remove(5), None);
        assert_eq!(buf.as_slice(), [1, 3]);
        buf.clear();
        assert_eq!(buf.spare_mut().len(), 3);
    }

    #[test]
    fn an_impossible_capacity_is_an_error() {
        assert!(FixedBuf::<u64>::try_with_capacity(usize::MAX).is_err());
    }
}
