//! The cross-thread notify channel: a bounded queue into the `EventLoop` whose senders
//! wake the loop's selector only when it may be asleep.
//!
//! # Implementation notes
//! - One word, `state`, holds the count of queued messages and a `SLEEPING` bit. Before
//!   it blocks, the loop sets `SLEEPING` only if the count is zero (a compare-exchange);
//!   a sender adds to the count (a fetch-add) and wakes the loop only if it found
//!   `SLEEPING` with a count of zero. Read-modify-writes of one word are totally ordered,
//!   so either the loop sees the message and does not block, or the sender sees the loop
//!   asleep and wakes it: no lost wake, and no memory-order argument beyond that. A burst
//!   of sends costs one wake per sleep: the senders after the first find a count above
//!   zero. The messages themselves travel under the queue's lock.
//! - With no `Sender` alive the loop skips the handshake (no read-modify-write per
//!   iteration): nobody can queue a message, and a new `Sender` is made only by the loop's
//!   owner, or by cloning a live one. The last `Sender` may have sent and been dropped
//!   since the loop last looked at the queue; [`Receiver::prepare_sleep`] says how that
//!   message is still seen.
//! - The wake happens under the queue lock, before the push: if it fails the message is
//!   handed back with `NotifyError::Io`, and the loop cannot drain before the push lands.
//! - The selector (as the waker) is held under the same lock and dropped by `close`, so a
//!   `Sender` that outlives its loop holds no descriptor, only enough to say `Closed`.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::time::Duration;

use crate::sync::atomic::{fence, AtomicUsize, Ordering::Acquire, Ordering::Relaxed};
use crate::sync::{Arc, Mutex, MutexGuard};
use crate::Selector;

/// The loop announced it blocks (the low bit of `Shared::state`).
const SLEEPING: usize = 1;
/// One queued message: the count is `state / MESSAGE`.
const MESSAGE: usize = 2;

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

/// So a function returning `io::Result` can send with `?` (the message is dropped):
/// `Full` is `WouldBlock` (try again once the loop drained), `Closed` is `BrokenPipe` (the
/// loop is gone, as a pipe's reader), `Io` is the wake's own error.
impl<M> From<NotifyError<M>> for io::Error {
    fn from(err: NotifyError<M>) -> io::Error {
        let kind = match err {
            NotifyError::Io(e, _) => return e,
            NotifyError::Full(_) => io::ErrorKind::WouldBlock,
            NotifyError::Closed(_) => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, err.to_string())
    }
}

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
    /// The loop's selector; `None` once the loop is gone.
    waker: Option<std::sync::Arc<dyn Wake>>,
}

/// The state shared by the loop and its senders.
pub(crate) struct Shared<M> {
    queue: Mutex<Queue<M>>,
    /// `MESSAGE` × queued messages (plus one while a send is between its count and its
    /// push), `| SLEEPING` while the loop blocks after announcing it.
    state: AtomicUsize,
    capacity: usize,
}

impl<M> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, Queue<M>> {
        // A panic while holding the lock cannot leave the queue inconsistent (push and
        // pop are single calls), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, msg: M) -> Result<(), NotifyError<M>> {
        let mut guard = self.lock();
        let queue = &mut *guard;
        let Some(waker) = &queue.waker else {
            return Err(NotifyError::Closed(msg));
        };
        if queue.messages.len() >= self.capacity {
            return Err(NotifyError::Full(msg));
        }
        // Relaxed: the message itself is handed over under the lock; this word only
        // decides who wakes, and its read-modify-writes are ordered among themselves.
        if self.state.fetch_add(MESSAGE, Relaxed) == SLEEPING {
            if let Err(e) = waker.wake() {
                // Still asleep, with the count back at zero: the next send wakes.
                self.state.fetch_sub(MESSAGE, Relaxed);
                return Err(NotifyError::Io(e, msg));
            }
        }
        queue.messages.push_back(msg);
        Ok(())
    }

    fn has_messages(&self) -> bool {
        self.state.load(Relaxed) >= MESSAGE
    }
}

/// The loop's end of the channel.
pub(crate) struct Receiver<M> {
    shared: Arc<Shared<M>>,
}

/// How the loop selects: the timeout to use, and whether it announced a sleep that
/// [`Receiver::awake`] must end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sleep {
    pub(crate) timeout: Option<Duration>,
    announced: bool,
}

impl<M> Receiver<M> {
    pub(crate) fn new(capacity: usize, waker: std::sync::Arc<dyn Wake>) -> Receiver<M> {
        let queue = Queue {
            // At most 4096 up front: the queue grows to `capacity` only if it fills.
            messages: VecDeque::with_capacity(capacity.min(4096)),
            waker: Some(waker),
        };
        Receiver {
            shared: Arc::new(Shared {
                queue: Mutex::new(queue),
                state: AtomicUsize::new(0),
                capacity,
            }),
        }
    }

    /// A new sender (on the loop's thread: `&self` is the loop's).
    pub(crate) fn sender(&self) -> Sender<M> {
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The loop is about to select with `timeout`: announces the sleep if a `Sender`
    /// could wake it, and turns the timeout into zero if a message is queued.
    pub(crate) fn prepare_sleep(&self, timeout: Option<Duration>) -> Sleep {
        #[cfg(all(test, not(loom)))]
        sleep_decision();
        let no_sleep = Sleep {
            timeout: Some(Duration::ZERO),
            announced: false,
        };
        if timeout == Some(Duration::ZERO) {
            return no_sleep;
        }
        if Arc::strong_count(&self.shared) == 1 {
            // No `Sender` lives, and none can appear before this select returns. The
            // last one may have sent and been dropped since the loop looked at the
            // queue: its drop decremented the count with `Release`, and the value 1 read
            // here comes from that decrement (or a later one of the same chain of
            // read-modify-writes), so this fence makes its send visible to the check
            // below, which must not skip it.
            fence(Acquire);
            if self.has_messages() {
                return no_sleep;
            }
            return Sleep {
                timeout,
                announced: false,
            };
        }
        match self
            .shared
            .state
            .compare_exchange(0, SLEEPING, Relaxed, Relaxed)
        {
            // A `SLEEPING` left by a select that unwound is as good as a fresh one.
            Ok(_) | Err(SLEEPING) => Sleep {
                timeout,
                announced: true,
            },
            Err(_) => no_sleep,
        }
    }

    /// The loop returned from the select `sleep` describes. A sender that still saw
    /// `SLEEPING` made one spare wake, which the next select consumes.
    pub(crate) fn awake(&self, sleep: Sleep) {
        if sleep.announced {
            self.shared.state.fetch_and(!SLEEPING, Relaxed);
        }
    }

    /// Whether a message is queued.
    pub(crate) fn has_messages(&self) -> bool {
        self.shared.has_messages()
    }

    /// The oldest queued message.
    pub(crate) fn pop(&self) -> Option<M> {
        if !self.has_messages() {
            return None;
        }
        let msg = self.shared.lock().messages.pop_front();
        if msg.is_some() {
            self.shared.state.fetch_sub(MESSAGE, Relaxed);
        }
        msg
    }

    /// The loop is gone: refuse further sends, drop what is queued, and let go of the
    /// selector, so that a `Sender` outliving the loop keeps none of its descriptors.
    pub(crate) fn close(&self) {
        let (waker, dropped) = {
            let mut queue = self.shared.lock();
            self.shared.state.store(0, Relaxed);
            (queue.waker.take(), std::mem::take(&mut queue.messages))
        };
        // Outside the lock: the selector closes its descriptors, and destructors may send
        // (and fail with Closed).
        drop(waker);
        drop(dropped);
    }
}

impl<M> fmt::Debug for Receiver<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("queued", &(self.shared.state.load(Relaxed) / MESSAGE))
            .finish()
    }
}

/// Sends messages to an `EventLoop`'s [`Handler::notify`](crate::Handler::notify) from
/// any thread. Made by [`EventLoop::channel`](crate::EventLoop::channel).
///
/// `Clone + Send`: give each thread its own. The channel is bounded
/// ([`notify_capacity`](crate::Builder::notify_capacity)); a send that fails hands the
/// message back in its [`NotifyError`].
///
/// ```
/// use selectio::{EventLoop, Handler, NotifyError};
///
/// struct Results(Vec<u64>);
///
/// impl Handler for Results {
///     type Timeout = ();
///     type Message = u64;
///
///     fn notify(&mut self, el: &mut EventLoop<Self>, n: u64) {
///         self.0.push(n);
///         if self.0.len() == 3 {
///             el.shutdown();
///         }
///     }
/// }
///
/// let mut el: EventLoop<Results> = EventLoop::new()?;
/// let sender = el.channel();
/// let workers: Vec<_> = (1..=3)
///     .map(|n| {
///         let sender = sender.clone();
///         std::thread::spawn(move || sender.send(n * n).unwrap()) // wakes the loop
///     })
///     .collect();
/// let mut results = Results(Vec::new());
/// el.run(&mut results)?;
/// results.0.sort();
/// assert_eq!(results.0, [1, 4, 9]);
/// for worker in workers {
///     worker.join().unwrap();
/// }
///
/// drop(el); // a sender that outlives its loop gets its message back
/// assert!(matches!(sender.send(16), Err(NotifyError::Closed(16))));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Sender<M> {
    shared: Arc<Shared<M>>,
}

impl<M> Sender<M> {
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
            .field("queued", &(self.shared.state.load(Relaxed) / MESSAGE))
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
thread_local! {
    static AT_SLEEP_DECISION: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` on this thread when its loop next decides how to sleep, after it found the
/// queue empty: a test puts another thread's actions in exactly that window.
#[cfg(all(test, not(loom)))]
fn at_sleep_decision(f: impl FnOnce() + 'static) {
    AT_SLEEP_DECISION.with(|hook| *hook.borrow_mut() = Some(Box::new(f)));
}

#[cfg(all(test, not(loom)))]
fn sleep_decision() {
    if let Some(f) = AT_SLEEP_DECISION.with(|hook| hook.borrow_mut().take()) {
        f();
    }
}

#[cfg(test)]
mod fake;
#[cfg(all(test, loom))]
mod loom;
#[cfg(all(test, not(loom)))]
mod tests;
