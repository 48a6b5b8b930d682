//! The primitives of the cross-thread handshakes (the notify channel, the poll backend's
//! lock): std's, or under `cfg(loom)` loom's, so that the loom models of
//! `.ci/loom` check every interleaving of the very code that ships.
//!
//! A `cfg(loom)` build is for those models only: its primitives work inside
//! `loom::model` and nowhere else.

#[cfg(not(loom))]
pub(crate) use std::sync::{atomic, Arc, Mutex, MutexGuard};
// The poll backend's lock waits on a condvar for the changes it lets in; so does the
// notify channel's test selector.
#[cfg(all(not(loom), any(selectio_poll, test)))]
pub(crate) use std::sync::Condvar;

#[cfg(loom)]
pub(crate) use self::model::Arc;
#[cfg(all(loom, any(selectio_poll, test)))]
pub(crate) use loom::sync::Condvar;
#[cfg(loom)]
pub(crate) use loom::sync::{atomic, Mutex, MutexGuard};

/// `mutex.try_lock()`.
#[cfg(all(not(loom), selectio_poll))]
#[inline]
pub(crate) fn try_lock<T>(mutex: &Mutex<T>) -> std::sync::TryLockResult<MutexGuard<'_, T>> {
    mutex.try_lock()
}

/// `mutex.try_lock()` as if the mutex were always taken: loom counts a thread about to
/// `try_lock` as blocked once another takes the mutex (tokio-rs/loom#376), a deadlock no
/// real `try_lock` can cause. The models thus take the path of a try that fails; one
/// that succeeds owns a free mutex and waits for nobody, so it has no handshake to check.
#[cfg(all(loom, selectio_poll))]
pub(crate) fn try_lock<T>(_: &Mutex<T>) -> std::sync::TryLockResult<MutexGuard<'_, T>> {
    Err(std::sync::TryLockError::WouldBlock)
}

/// Runs `f` under loom in every interleaving with at most `preemptions` preemptions
/// (`LOOM_MAX_PREEMPTIONS` overrides it, for a deeper run by hand), and prints how many
/// interleavings it explored (shown with `--nocapture`).
#[cfg(all(loom, test))]
pub(crate) fn model(name: &str, preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let mut builder = loom::model::Builder::new();
    let bound = *builder.preemption_bound.get_or_insert(preemptions);
    builder.check(move || {
        counted.fetch_add(1, Relaxed);
        f();
    });
    let runs = runs.load(Relaxed);
    eprintln!("{name}: {runs} interleavings, at most {bound} preemptions");
}

#[cfg(loom)]
mod model {
    use std::ops::Deref;

    use loom::sync::atomic::Ordering::{Acquire, Relaxed, Release};
    use loom::sync::atomic::{fence, AtomicUsize};

    /// `std::sync::Arc`'s counting, written in loom's atomics.
    ///
    /// loom's own `Arc::strong_count` synchronises like an `Acquire` load, where std's is
    /// a `Relaxed` one: a model on loom's `Arc` would pass code that relies on an
    /// ordering std does not give. This one counts as std does (clone: `Relaxed`
    /// increment; drop: `Release` decrement, an `Acquire` fence after the last;
    /// `strong_count`: a `Relaxed` load), and leaves the memory to a loom `Arc`, whose
    /// leak check still applies.
    pub(crate) struct Arc<T> {
        inner: loom::sync::Arc<Inner<T>>,
    }

    struct Inner<T> {
        strong: AtomicUsize,
        value: T,
    }

    impl<T> Arc<T> {
        pub(crate) fn new(value: T) -> Arc<T> {
            let strong = AtomicUsize::new(1);
            Arc {
                inner: loom::sync::Arc::new(Inner { strong, value }),
            }
        }

        pub(crate) fn strong_count(this: &Arc<T>) -> usize {
            this.inner.strong.load(Relaxed)
        }
    }

    impl<T> Clone for Arc<T> {
        fn clone(&self) -> Arc<T> {
            self.inner.strong.fetch_add(1, Relaxed);
            Arc {
                inner: self.inner.clone(),
            }
        }
    }

    impl<T> Drop for Arc<T> {
        fn drop(&mut self) {
            if self.inner.strong.fetch_sub(1, Release) == 1 {
                fence(Acquire);
            }
        }
    }

    impl<T> Deref for Arc<T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.inner.value
        }
    }
}
