//! `Ready`, `Event` and the reusable `Events` buffer that `Selector::select` fills.

use std::fmt;
use std::io;
use std::ops;

use crate::sys::FixedBuf;
use crate::{Selector, Token};

/// A set of readiness flags, as reported for one registration.
///
/// Only [`READABLE`](Ready::READABLE) and [`WRITABLE`](Ready::WRITABLE) are guaranteed:
/// they mean the operation will not block (it may return data, EOF or an error). The
/// others are hints, mapped the same way on every backend (see the table in
/// [`selector`](crate::selector)).
///
/// A [`Handler`](crate::Handler) sees them by overriding
/// [`ready`](crate::Handler::ready), whose default turns them into `readable` and
/// `writable` calls:
///
/// ```
/// use std::net::Shutdown;
/// use std::time::Duration;
/// use selectio::net::TcpStream;
/// use selectio::{EventLoop, Handler, Interest, Mode, Ready, Token};
///
/// struct Flags(Ready);
///
/// impl Handler for Flags {
///     type Timeout = ();
///     type Message = ();
///
///     fn ready(&mut self, _: &mut EventLoop<Self>, _token: Token, ready: Ready) {
///         self.0 |= ready;
///     }
/// }
///
/// // A connected pair, set up with std's blocking calls:
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let server = TcpStream::from_std(listener.accept()?.0)?; // now non-blocking
/// let mut el: EventLoop<Flags> = EventLoop::new()?;
/// el.register(&server, Token(0), Interest::READABLE, Mode::Level)?;
///
/// client.shutdown(Shutdown::Write)?; // the peer is done sending
/// let mut flags = Flags(Ready::EMPTY);
/// while !flags.0.is_readable() {
///     el.run_once(&mut flags, Some(Duration::from_secs(1)))?;
/// }
/// // Guaranteed: readable (a read returns 0). A hint, where the backend can tell:
/// println!("read closed: {}", flags.0.is_read_closed());
/// el.deregister(&server)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ready(u8);

impl Ready {
    /// No readiness.
    pub const EMPTY: Ready = Ready(0);
    /// A read will not block.
    pub const READABLE: Ready = Ready(1 << 0);
    /// A write will not block.
    pub const WRITABLE: Ready = Ready(1 << 1);
    /// An error is pending on the source (`take_error` / `SO_ERROR` tells which).
    pub const ERROR: Ready = Ready(1 << 2);
    /// The read half is closed: the peer shut down its writing side or hung up.
    pub const READ_CLOSED: Ready = Ready(1 << 3);
    /// The write half is closed: writes will fail.
    pub const WRITE_CLOSED: Ready = Ready(1 << 4);
    /// Priority (out-of-band) data is available.
    pub const PRIORITY: Ready = Ready(1 << 5);

    const NAMES: [(Ready, &'static str); 6] = [
        (Ready::READABLE, "READABLE"),
        (Ready::WRITABLE, "WRITABLE"),
        (Ready::ERROR, "ERROR"),
        (Ready::READ_CLOSED, "READ_CLOSED"),
        (Ready::WRITE_CLOSED, "WRITE_CLOSED"),
        (Ready::PRIORITY, "PRIORITY"),
    ];

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: Ready) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set in `self`.
    pub const fn intersects(self, other: Ready) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `self` with the flags of `other` added when `on` is true.
    #[must_use]
    pub const fn with_if(self, other: Ready, on: bool) -> Ready {
        if on {
            Ready(self.0 | other.0)
        } else {
            self
        }
    }

    /// A read will not block.
    pub const fn is_readable(self) -> bool {
        self.intersects(Ready::READABLE)
    }
    /// A write will not block.
    pub const fn is_writable(self) -> bool {
        self.intersects(Ready::WRITABLE)
    }
    /// An error is pending (hint).
    pub const fn is_error(self) -> bool {
        self.intersects(Ready::ERROR)
    }
    /// The read half is closed (hint).
    pub const fn is_read_closed(self) -> bool {
        self.intersects(Ready::READ_CLOSED)
    }
    /// The write half is closed (hint).
    pub const fn is_write_closed(self) -> bool {
        self.intersects(Ready::WRITE_CLOSED)
    }
    /// Priority data is available (hint).
    pub const fn is_priority(self) -> bool {
        self.intersects(Ready::PRIORITY)
    }
}

impl ops::BitOr for Ready {
    type Output = Ready;
    fn bitor(self, other: Ready) -> Ready {
        Ready(self.0 | other.0)
    }
}

impl ops::BitOrAssign for Ready {
    fn bitor_assign(&mut self, other: Ready) {
        self.0 |= other.0;
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("EMPTY");
        }
        let mut first = true;
        for (flag, name) in Ready::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// One readiness report: the registration's [`Token`] and its [`Ready`] flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event {
    token: Token,
    ready: Ready,
}

impl Event {
    /// An event for `token` with the flags `ready`.
    pub const fn new(token: Token, ready: Ready) -> Event {
        Event { token, ready }
    }
    /// The token given at registration.
    pub const fn token(&self) -> Token {
        self.token
    }
    /// All flags of this event.
    pub const fn ready(&self) -> Ready {
        self.ready
    }
    /// A read will not block.
    pub const fn is_readable(&self) -> bool {
        self.ready.is_readable()
    }
    /// A write will not block.
    pub const fn is_writable(&self) -> bool {
        self.ready.is_writable()
    }
    /// An error is pending (hint).
    pub const fn is_error(&self) -> bool {
        self.ready.is_error()
    }
    /// The read half is closed (hint).
    pub const fn is_read_closed(&self) -> bool {
        self.ready.is_read_closed()
    }
    /// The write half is closed (hint).
    pub const fn is_write_closed(&self) -> bool {
        self.ready.is_write_closed()
    }
    /// Priority data is available (hint).
    pub const fn is_priority(&self) -> bool {
        self.ready.is_priority()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("token", &self.token)
            .field("ready", &self.ready)
            .finish()
    }
}

/// A reusable buffer of events with a fixed capacity, filled by [`Selector::select`].
///
/// It holds the backend's raw events (`epoll_event`, `kevent`, …) as the kernel wrote
/// them and decodes each into an [`Event`] only when iterated: no allocation after
/// [`with_capacity`](Events::with_capacity), no copy beyond the decoding.
pub struct Events<S: Selector> {
    pub(crate) raw: FixedBuf<S::RawEvent>,
}

impl<S: Selector> Events<S> {
    /// A buffer that receives at most `capacity` events per `select`.
    ///
    /// A capacity of zero is an `InvalidInput` error: a select that may return nothing
    /// would spin.
    pub fn with_capacity(capacity: usize) -> io::Result<Events<S>> {
        if capacity == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "selectio: an Events buffer needs a capacity of at least 1",
            ));
        }
        // `try_reserve`: a capacity too large to allocate is an error, not a panic
        // ("capacity overflow") or an abort (a failed allocation).
        let raw = FixedBuf::try_with_capacity(capacity).map_err(|e| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "selectio: an Events buffer of capacity {capacity} cannot be allocated: {e}"
                ),
            )
        })?;
        Ok(Events { raw })
    }

    /// The most events one `select` stores.
    pub fn capacity(&self) -> usize {
        self.raw.capacity()
    }

    /// How many events the last `select` stored.
    pub fn len(&self) -> usize {
        self.raw.as_slice().len()
    }

    /// Whether the last `select` stored no event.
    pub fn is_empty(&self) -> bool {
        self.raw.as_slice().is_empty()
    }

    /// Forgets the stored events (keeps the memory).
    pub fn clear(&mut self) {
        self.raw.clear();
    }

    /// The stored events, decoded one by one.
    pub fn iter(&self) -> Iter<'_, S> {
        Iter {
            inner: self.raw.as_slice().iter(),
        }
    }

    /// The event at `index`, decoded.
    pub fn get(&self, index: usize) -> Option<Event> {
        self.raw.as_slice().get(index).map(S::decode)
    }

    /// The raw events as stored by the backend.
    pub fn raw(&self) -> &[S::RawEvent] {
        self.raw.as_slice()
    }

    /// Stores one raw event after those already stored: the safe way for a backend to
    /// fill the buffer, one event at a time (never reallocates). A full buffer hands the
    /// event back; it belongs to a later `select`.
    #[inline]
    pub fn push(&mut self, raw: S::RawEvent) -> Result<(), S::RawEvent> {
        self.raw.push(raw)
    }

    /// Keeps only the stored events for which `keep` is true, in order (a backend dropping
    /// events that are not the caller's).
    pub fn retain(&mut self, keep: impl FnMut(&S::RawEvent) -> bool) {
        self.raw.retain(keep);
    }

    /// Removes and returns the stored event at `index`, keeping the others in order (a
    /// backend taking its own waker's event out of a batch); `None` past the end.
    pub fn remove(&mut self, index: usize) -> Option<S::RawEvent> {
        self.raw.remove(index)
    }

    // `spare_capacity_mut` and the `unsafe` `set_len`, the kernel-filled fast path, are
    // in `sys::buf`, with the crate's other `unsafe` code.
}

impl<S: Selector> fmt::Debug for Events<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("capacity", &self.capacity())
            .field("events", &DebugList(self))
            .finish()
    }
}

struct DebugList<'a, S: Selector>(&'a Events<S>);

impl<S: Selector> fmt::Debug for DebugList<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl<'a, S: Selector> IntoIterator for &'a Events<S> {
    type Item = Event;
    type IntoIter = Iter<'a, S>;
    fn into_iter(self) -> Iter<'a, S> {
        self.iter()
    }
}

/// Iterator over the decoded events of an [`Events`] buffer.
pub struct Iter<'a, S: Selector> {
    inner: std::slice::Iter<'a, S::RawEvent>,
}

impl<S: Selector> Iterator for Iter<'_, S> {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        self.inner.next().map(S::decode)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<S: Selector> ExactSizeIterator for Iter<'_, S> {}

impl<S: Selector> fmt::Debug for Iter<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("remaining", &self.inner.len())
            .finish()
    }
}
