//! Who may touch the poll backend's state: one atomic word shared by `select` and the
//! registration changes.
//!
//! The selecting thread owns the state for its whole `select`, poll(2) included (the
//! kernel writes `revents` into the array), except when it lets waiting changes in
//! between two polls. A change owns it in between. Uncontended, a `select` costs one
//! compare-exchange to enter and one fetch-sub to leave, and a change the same; only a
//! thread that must wait touches the mutex and condvar.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;

use crate::sync::atomic::AtomicUsize;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::sync::{Condvar, Mutex, UnsafeCell};

/// A `select` runs: a second one is refused, and a change wakes it.
const SELECTING: usize = 1;
/// The value is owned, by the selecting thread or by one change.
const OWNED: usize = 2;
/// A thread sleeps on the condvar until `OWNED` clears.
const WAITING: usize = 4;
/// One change waiting for the value; the bits from here up count them.
const CHANGE: usize = 8;

/// A value owned by one thread at a time: the selecting one, or a registration change.
pub(super) struct Owner<T> {
    word: AtomicUsize,
    value: UnsafeCell<T>,
    sleep: Mutex<()>,
    wakeup: Condvar,
}

// SAFETY: `Owner` is a lock, `Sync` under `Mutex<T>`'s bound. An `&Owner` reaches the
// value only through an `Owned`, and the `OWNED` bit lets one exist at a time (set with
// Acquire, cleared with Release, so each owner's accesses happen before the next
// owner's). The value thus passes from thread to thread, one after another, which
// `T: Send` allows; the `Owner` itself never lets two threads hold `&T` at once. A
// shared `Owned` would: it is `Sync` only when `T: Sync` (its `access` field). The
// assertions in `mod bounds` keep both bounds.
unsafe impl<T: Send> Sync for Owner<T> {}

/// Exclusive access to the value; gives it back on drop.
pub(super) struct Owned<'a, T> {
    owner: &'a Owner<T>,
    /// The bits this guard holds: `SELECTING | OWNED` for a select, `OWNED` for a change.
    bits: usize,
    /// The guard is an exclusive borrow of the value, and crosses threads as one: `Send`
    /// when `T: Send`, and `Sync` only when `T: Sync`, since threads sharing a guard all
    /// `deref` it to `&T` at once. Without this field it would be `Sync` whenever the
    /// `Owner` is, that is for any `T: Send`, `Cell` included.
    access: PhantomData<&'a mut T>,
}

impl<T> Owner<T> {
    pub(super) fn new(value: T) -> Owner<T> {
        Owner {
            word: AtomicUsize::new(0),
            value: UnsafeCell::new(value),
            sleep: Mutex::new(()),
            wakeup: Condvar::new(),
        }
    }

    /// Owns the value for a `select`, after the changes that own or wait for it; `None`
    /// at once if another `select` runs.
    pub(super) fn select(&self) -> Option<Owned<'_, T>> {
        let entered = self
            .word
            .compare_exchange(0, SELECTING | OWNED, Acquire, Relaxed);
        if let Err(mut word) = entered {
            // Mark the select first, so a second one is refused while this one waits.
            loop {
                if word & SELECTING != 0 {
                    return None;
                }
                match self
                    .word
                    .compare_exchange(word, word | SELECTING, Relaxed, Relaxed)
                {
                    Ok(_) => break,
                    Err(now) => word = now,
                }
            }
            self.wait_until(quiet);
        }
        Some(Owned {
            owner: self,
            bits: SELECTING | OWNED,
            access: PhantomData,
        })
    }

    /// Owns the value for a registration change; runs `selecting` first if a `select`
    /// runs, which must make it let the change in (wake its poll).
    pub(super) fn change(&self, selecting: impl FnOnce()) -> Owned<'_, T> {
        if self
            .word
            .compare_exchange(0, OWNED, Acquire, Relaxed)
            .is_err()
        {
            // Counted in the same word the select enters and leaves by: either it sees
            // this change before it polls, or this sees it selecting and wakes it.
            if self.word.fetch_add(CHANGE, Relaxed) & SELECTING != 0 {
                selecting();
            }
            self.wait_until(|w| (w & OWNED == 0).then_some((w - CHANGE) | OWNED));
        }
        Owned {
            owner: self,
            bits: OWNED,
            access: PhantomData,
        }
    }

    /// Owns the value only if nobody does (for `Debug`).
    pub(super) fn try_change(&self) -> Option<Owned<'_, T>> {
        let free = self.word.compare_exchange(0, OWNED, Acquire, Relaxed);
        free.ok().map(|_| Owned {
            owner: self,
            bits: OWNED,
            access: PhantomData,
        })
    }

    /// Sleeps until `take` turns the word into a new one (taking the value).
    fn wait_until(&self, take: impl Fn(usize) -> Option<usize>) {
        let mut guard = self.sleep.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let word = self.word.load(Relaxed);
            let cas = |new| self.word.compare_exchange(word, new, Acquire, Relaxed);
            match take(word) {
                Some(new) if cas(new).is_ok() => return,
                Some(_) => continue,
                // `WAITING` is set, and cleared only under the mutex held here: the
                // thread that frees the value will see it and notify.
                None if word & WAITING == 0 && cas(word | WAITING).is_err() => continue,
                None => {}
            }
            guard = self
                .wakeup
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Clears `bits` (which hold `OWNED`) and wakes the threads waiting for the value.
    #[inline]
    fn release(&self, bits: usize) {
        if self.word.fetch_sub(bits, Release) & WAITING != 0 {
            self.wake_waiters();
        }
    }

    #[cold]
    fn wake_waiters(&self) {
        // Under the mutex, so every waiter that set `WAITING` is already asleep.
        let _guard = self.sleep.lock().unwrap_or_else(PoisonError::into_inner);
        self.word.fetch_and(!WAITING, Relaxed);
        self.wakeup.notify_all();
    }
}

/// The select's condition: no change owns or waits for the value.
fn quiet(word: usize) -> Option<usize> {
    (word & OWNED == 0 && word < CHANGE).then_some(word | OWNED)
}

impl<T> Owned<'_, T> {
    /// Whether a change waits for the value (a `select` asks before it polls again).
    pub(super) fn changes_waiting(&self) -> bool {
        self.owner.word.load(Relaxed) >= CHANGE
    }

    /// Lets the waiting changes apply, then owns the value again (a `select` between
    /// two polls).
    pub(super) fn let_changes_in(&mut self) {
        self.owner.release(OWNED);
        self.owner.wait_until(quiet);
    }
}

impl<T> Deref for Owned<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds `OWNED`, so no other guard exists, and the previous
        // owner's accesses happen before this one (see `Sync for Owner`). The `&T` borrows
        // the guard, so no `&mut T` from `deref_mut` can be alive beside it; other `&T`
        // from this same guard may be, on threads sharing it only if `T: Sync`.
        self.owner.value.with(|value| unsafe { &*value })
    }
}

impl<T> DerefMut for Owned<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds `OWNED`, so no other guard exists, and the previous
        // owner's accesses happen before this one (see `Sync for Owner`); the `&mut T`
        // borrows the guard mutably, so no other reference from it is alive.
        self.owner.value.with_mut(|value| unsafe { &mut *value })
    }
}

impl<T> Drop for Owned<'_, T> {
    fn drop(&mut self) {
        self.owner.release(self.bits);
    }
}

impl<T> fmt::Debug for Owner<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.word.load(Relaxed);
        f.debug_struct("Owner")
            .field("selecting", &(word & SELECTING != 0))
            .field("owned", &(word & OWNED != 0))
            .field("changes_waiting", &(word / CHANGE))
            .finish()
    }
}

/// The thread-safety bounds above, checked when the crate compiles: a bound that changes
/// fails the build here.
mod bounds {
    use std::cell::Cell;
    use std::marker::PhantomData;
    use std::rc::Rc;
    use std::sync::MutexGuard;

    use super::super::state::State;
    use super::{Owned, Owner};

    /// `Probe::<T>::SYNC` is `true` exactly when `T: Sync`, and `SEND` when `T: Send`:
    /// the inherent constants apply only under their bound, and the trait's defaults
    /// answer otherwise.
    struct Probe<T: ?Sized>(PhantomData<T>);

    trait Fallback {
        const SYNC: bool = false;
        const SEND: bool = false;
    }

    impl<T: ?Sized> Fallback for Probe<T> {}

    impl<T: ?Sized + Sync> Probe<T> {
        const SYNC: bool = true;
    }

    impl<T: ?Sized + Send> Probe<T> {
        const SEND: bool = true;
    }

    type Guard<T> = Owned<'static, T>;

    // The `Owner` is `Sync` for any `T: Send`, like `Mutex<T>`, and no looser: a value
    // that may not move between threads (`Rc`, a `MutexGuard`) may not be shared in one.
    const _: () = assert!(Probe::<Owner<Cell<u8>>>::SYNC);
    const _: () = assert!(!Probe::<Owner<Rc<u8>>>::SYNC);
    const _: () = assert!(!Probe::<Owner<MutexGuard<'static, u8>>>::SYNC);
    // A guard shared between threads shares `&T`: only for `T: Sync`. It moves to
    // another thread as `&mut T` does.
    const _: () = assert!(!Probe::<Guard<Cell<u8>>>::SYNC);
    const _: () = assert!(Probe::<Guard<Cell<u8>>>::SEND);
    const _: () = assert!(!Probe::<Guard<Rc<u8>>>::SEND);
    // What the poll backend needs.
    const _: () = assert!(Probe::<Owner<State>>::SYNC);
    const _: () = assert!(Probe::<Guard<State>>::SYNC && Probe::<Guard<State>>::SEND);
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
        let sel = owner.select().expect("free");
        assert!(owner.select().is_none());
        assert!(owner.try_change().is_none());
        drop(sel);
        *owner.change(|| panic!("no select runs")) += 1;
        assert_eq!(*owner.select().expect("free again"), 1);
    }

    #[test]
    fn changes_from_other_threads_are_let_in_between_polls() {
        let owner = Arc::new(Owner::new(0u64));
        let mut sel = owner.select().expect("free");
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
                sel.let_changes_in();
            }
            assert!(*sel >= before);
            thread::yield_now();
        }
        drop(sel);
        changers
            .into_iter()
            .for_each(|t| t.join().expect("changer"));
        assert_eq!(*owner.select().expect("free"), 4000);
    }
}
