//! The cross-thread notify channel: a bounded queue into the `EventLoop` whose senders
//! wake the loop's selector only when it may be asleep.
//!
//! # Implementation notes
//! - The loop announces "about to block" by storing `SLEEPING` in `state`, then looks at
//!   the queue once more; a sender pushes, then moves `SLEEPING` to `NOTIFIED` and only
//!   the sender that wins that exchange calls `wake()`. Both sides use `SeqCst`, so either
//!   the loop sees the message or the sender sees `SLEEPING`: no lost wake, and a burst of
//!   sends costs one wake syscall per sleep of the loop, not one per message.
//! - The wake happens under the queue lock, before the push: if it fails the message is
//!   handed back with `NotifyError::Io`, and the loop cannot drain before the push lands.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::Selector;

const AWAKE: u8 = 0;
const SLEEPING: u8 = 1;
const NOTIFIED: u8 = 2;

/// Why a message could not be sent; the message always comes back.
pub enum NotifyError<M> {
    /// The queue holds "notify capacity" messages already; try again after the loop drains.
    Full(M),
    /// The event loop was dropped.
    Closed(M),
    /// Waking the event loop failed.
    Io(io::Error, M),
}

impl<M> NotifyError<M> {
    /// The message that was not sent.
    pub fn into_inner(self) -> M {
        match self {
            NotifyError::Full(m) | NotifyError::Closed(m) | NotifyError::Io(_, m) => m,
        }
    }
}

impl<M> fmt::Debug for NotifyError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::Full(_) => f.write_str("Full(..)"),
            NotifyError::Closed(_) => f.write_str("Closed(..)"),
            NotifyError::Io(e, _) => write!(f, "Io({e:?}, ..)"),
        }
    }
}

impl<M> fmt::Display for NotifyError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::Full(_) => f.write_str("selectio: the notify queue is full"),
            NotifyError::Closed(_) => f.write_str("selectio: the event loop is gone"),
            NotifyError::Io(e, _) => write!(f, "selectio: waking the event loop failed: {e}"),
        }
    }
}

impl<M> std::error::Error for NotifyError<M> {}

/// What a sender needs of the selector: its `wake`.
pub(crate) trait Wake: Send + Sync {
    fn wake(&self) -> io::Result<()>;
}

impl<S: Selector> Wake for S {
    fn wake(&self) -> io::Result<()> {
        Selector::wake(self)
    }
}

struct Queue<M> {
    messages: VecDeque<M>,
    closed: bool,
}

/// The state shared by the loop and its senders.
pub(crate) struct Shared<M> {
    queue: Mutex<Queue<M>>,
    len: AtomicUsize,
    state: AtomicU8,
    capacity: usize,
    waker: Arc<dyn Wake>,
}

impl<M> Shared<M> {
    pub(crate) fn new(capacity: usize, waker: Arc<dyn Wake>) -> Shared<M> {
        Shared {
            queue: Mutex::new(Queue {
                // At most 4096 up front: the queue grows to `capacity` only if it fills.
                messages: VecDeque::with_capacity(capacity.min(4096)),
                closed: false,
            }),
            len: AtomicUsize::new(0),
            state: AtomicU8::new(AWAKE),
            capacity,
            waker,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<M>> {
        // A panic while holding the lock cannot leave the queue inconsistent (push and
        // pop are single calls), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, msg: M) -> Result<(), NotifyError<M>> {
        let mut queue = self.lock();
        if queue.closed {
            return Err(NotifyError::Closed(msg));
        }
        if queue.messages.len() >= self.capacity {
            return Err(NotifyError::Full(msg));
        }
        self.len.fetch_add(1, Ordering::SeqCst);
        if self
            .state
            .compare_exchange(SLEEPING, NOTIFIED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            if let Err(e) = self.waker.wake() {
                self.len.fetch_sub(1, Ordering::SeqCst);
                self.state.store(SLEEPING, Ordering::SeqCst);
                return Err(NotifyError::Io(e, msg));
            }
        }
        queue.messages.push_back(msg);
        Ok(())
    }

    /// The loop is about to block: returns `false` (and stays awake) if a message is
    /// queued, so the caller selects without blocking.
    pub(crate) fn prepare_sleep(&self) -> bool {
        self.state.store(SLEEPING, Ordering::SeqCst);
        if self.len.load(Ordering::SeqCst) > 0 {
            self.state.store(AWAKE, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// The loop returned from `select`. No ordering is needed: a sender that still sees
    /// `SLEEPING` makes one spare wake, which the next `select` consumes.
    pub(crate) fn awake(&self) {
        self.state.store(AWAKE, Ordering::Relaxed);
    }

    /// Whether a message is queued.
    pub(crate) fn has_messages(&self) -> bool {
        self.len.load(Ordering::SeqCst) > 0
    }

    /// The oldest queued message.
    pub(crate) fn pop(&self) -> Option<M> {
        if !self.has_messages() {
            return None;
        }
        let msg = self.lock().messages.pop_front();
        if msg.is_some() {
            self.len.fetch_sub(1, Ordering::SeqCst);
        }
        msg
    }

    /// The loop is gone: refuse further sends and drop what is queued.
    pub(crate) fn close(&self) {
        let dropped = {
            let mut queue = self.lock();
            queue.closed = true;
            self.len.store(0, Ordering::SeqCst);
            std::mem::take(&mut queue.messages)
        };
        // Destructors run outside the lock: they may send (and fail with Closed).
        drop(dropped);
    }
}

/// Sends messages to an `EventLoop`'s [`Handler::notify`](crate::Handler::notify) from
/// any thread. Made by [`EventLoop::channel`](crate::EventLoop::channel).
pub struct Sender<M> {
    shared: Arc<Shared<M>>,
}

impl<M> Sender<M> {
    pub(crate) fn new(shared: Arc<Shared<M>>) -> Sender<M> {
        Sender { shared }
    }

    /// Queues `msg` for the loop; wakes the loop only if it may be asleep.
    ///
    /// Messages from one sender arrive in send order. On error the message comes back:
    /// [`NotifyError::Full`] when the queue is full, [`NotifyError::Closed`] after the
    /// loop was dropped, [`NotifyError::Io`] if waking failed.
    pub fn send(&self, msg: M) -> Result<(), NotifyError<M>> {
        self.shared.send(msg)
    }
}

impl<M> Clone for Sender<M> {
    fn clone(&self) -> Sender<M> {
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M> fmt::Debug for Sender<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("queued", &self.shared.len.load(Ordering::Relaxed))
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}
