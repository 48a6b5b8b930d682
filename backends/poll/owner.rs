//! Who may touch the poll backend's state: a `Mutex` that the selecting thread holds for
//! its whole `select` and a registration change holds while it applies, a `Condvar` on
//! which the `select` waits for the changes it lets in, and a count of those changes.
//!
//! The selecting thread holds the mutex through poll(2) (the kernel writes `revents`
//! into the array), except when it lets waiting changes in between two polls: it then
//! waits on the condvar, the mutex released, until the last of them is done. A change
//! that finds the mutex taken counts itself and wakes the poll before it waits. Whether
//! a `select` runs is a flag under the mutex, which the `select` leaves set while it lets
//! changes in: a second `select` waits for the mutex like a change, sees the flag, and
//! is refused. Uncontended, a `select` and a change each cost what the mutex costs.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{PoisonError, TryLockError};

use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::atomic::{AtomicBool, AtomicUsize};
use crate::sync::{self, Condvar, Mutex, MutexGuard};

/// A value owned by one thread at a time: the selecting one, or a registration change.
pub(super) struct Owner<T> {
    value: Mutex<T>,
    /// A `select` runs (it may be letting changes in, the mutex released). Read and
    /// written only under the mutex, which orders the accesses.
    selecting: AtomicBool,
    /// The changes (and `select`s) that found the mutex taken and are not done yet.
    waiting: AtomicUsize,
    /// Notified, under the mutex, by each counted change when it is done: a `select`
    /// waits on it, the mutex released, until none is counted.
    done: Condvar,
}

/// Exclusive access to the value, for a `select` (`Owner::select`) or a registration
/// change (`Owner::change`); gives it back on drop.
pub(super) struct Owned<'a, T> {
    /// Declared before `value`, so dropped while the mutex is still held.
    leave: Leave<'a, T>,
    value: MutexGuard<'a, T>,
}

/// What an `Owned` undoes on drop, under the mutex.
struct Leave<'a, T> {
    owner: &'a Owner<T>,
    /// A `select`'s guard: clears `selecting`.
    selects: bool,
    /// Counted in `waiting`: leaves the count and notifies a `select` waiting for it.
    counted: bool,
}

impl<T> Owner<T> {
    pub(super) fn new(value: T) -> Owner<T> {
        Owner {
            value: Mutex::new(value),
            selecting: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            done: Condvar::new(),
        }
    }

    /// Owns the value for a `select`, after the changes that own or wait for it; `None`
    /// if another `select` runs. `wake` is `change`'s: a `select` that finds the mutex
    /// taken waits for it like a change, to see whether a `select` holds it.
    #[inline]
    pub(super) fn select(&self, wake: impl FnOnce()) -> Option<Owned<'_, T>> {
        let mut owned = self.change(wake);
        if self.selecting.load(Relaxed) {
            return None;
        }
        self.selecting.store(true, Relaxed);
        owned.leave.selects = true;
        if owned.leave.counted {
            // No longer waiting: the changes counted behind it go first, below.
            owned.leave.counted = false;
            self.waiting.fetch_sub(1, Relaxed);
        }
        Some(owned.let_changes_in())
    }

    /// Owns the value for a registration change. If it is taken, runs `wake` first,
    /// which must make a running `select` let the change in (wake its poll).
    #[inline]
    pub(super) fn change(&self, wake: impl FnOnce()) -> Owned<'_, T> {
        if let Some(owned) = self.try_change() {
            return owned;
        }
        // Counted before the wake-up: the `select` the wake-up reaches, or one that
        // starts later, sees the count under the mutex and lets this change in first.
        self.waiting.fetch_add(1, Relaxed);
        wake();
        let value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        self.owned(value, true)
    }

    /// Owns the value only if nobody does (for `Debug`, and a change's first try).
    #[inline]
    pub(super) fn try_change(&self) -> Option<Owned<'_, T>> {
        // A panic while the value was owned does not lock every later call out.
        let value = match sync::try_lock(&self.value) {
            Ok(value) => value,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(self.owned(value, false))
    }

    #[inline]
    fn owned<'a>(&'a self, value: MutexGuard<'a, T>, counted: bool) -> Owned<'a, T> {
        let leave = Leave {
            owner: self,
            selects: false,
            counted,
        };
        Owned { leave, value }
    }
}

impl<T> Owned<'_, T> {
    /// Whether a change waits for the value (a `select` asks before it polls again).
    #[inline]
    pub(super) fn changes_waiting(&self) -> bool {
        self.leave.owner.waiting.load(Relaxed) != 0
    }

    /// Lets the waiting changes apply, then owns the value again (a `select` between
    /// two polls). A counted change leaves the count under the mutex and then notifies,
    /// so the wait misses none.
    pub(super) fn let_changes_in(self) -> Self {
        let Owned { leave, mut value } = self;
        while leave.owner.waiting.load(Relaxed) != 0 {
            value = leave
                .owner
                .done
                .wait(value)
                .unwrap_or_else(PoisonError::into_inner);
        }
        Owned { leave, value }
    }
}

impl<T> Drop for Leave<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.selects {
            self.owner.selecting.store(false, Relaxed);
        }
        if self.counted {
            self.owner.waiting.fetch_sub(1, Relaxed);
            self.owner.done.notify_one();
        }
    }
}

impl<T> Deref for Owned<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Owned<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> fmt::Debug for Owner<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Owner")
            .field("waiting", &self.waiting.load(Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn a_second_select_is_refused_and_changes_wait() {
        let owner = Owner::new(0u32);
        let sel = owner.select(|| panic!("free")).expect("free");
        assert!(owner.try_change().is_none());
        drop(sel);
        *owner.change(|| panic!("no select runs")) += 1;
        assert_eq!(*owner.select(|| panic!("free")).expect("free again"), 1);
    }

    #[test]
    fn a_select_that_lets_changes_in_refuses_a_second_one() {
        let owner = Arc::new(Owner::new(0u32));
        let mut sel = owner.select(|| {}).expect("free");
        let second = {
            let owner = Arc::clone(&owner);
            thread::spawn(move || owner.select(|| {}).is_none())
        };
        // The second `select` counts itself like a change; let it in to be refused.
        while !second.is_finished() {
            if sel.changes_waiting() {
                sel = sel.let_changes_in();
            }
            thread::yield_now();
        }
        assert!(second.join().expect("second select"), "not refused");
        drop(sel);
        assert!(owner.select(|| {}).is_some(), "the first select ended");
    }

    #[test]
    fn changes_from_other_threads_are_let_in_between_polls() {
        let owner = Arc::new(Owner::new(0u64));
        let mut sel = owner.select(|| {}).expect("free");
        let changers: Vec<_> = (0..4)
            .map(|_| {
                let owner = Arc::clone(&owner);
                thread::spawn(move || {
                    for _ in 0..1000 {
                        *owner.change(|| {}) += 1;
                    }
                })
            })
            .collect();
        while !changers.iter().all(|t| t.is_finished()) {
            let before = *sel;
            if sel.changes_waiting() {
                sel = sel.let_changes_in();
            }
            assert!(*sel >= before);
            thread::yield_now();
        }
        drop(sel);
        changers
            .into_iter()
            .for_each(|t| t.join().expect("changer"));
        assert_eq!(*owner.select(|| {}).expect("free"), 4000);
    }
}
