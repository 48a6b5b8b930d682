//! `AnySelector`: one of the compiled-in backends, chosen at run time.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::{Mutex, TryLockError};
use std::time::Duration;

use crate::selector::errors;
use crate::selector::Capabilities;
use crate::{BorrowedSource, Event, Events, Interest, Mode, Selector, Token};

#[cfg(selectio_epoll)]
use super::Epoll;
#[cfg(selectio_kqueue)]
use super::Kqueue;
#[cfg(selectio_poll)]
use super::Poll;
#[cfg(selectio_polling)]
use super::Polling;
#[cfg(selectio_uring)]
use super::Uring;

/// The environment variable [`AnySelector::from_env`] reads.
pub const BACKEND_ENV: &str = "SELECTIO_BACKEND";

/// A backend's name, whether or not it is compiled in.
///
/// ```
/// use selectio::Backend;
///
/// let poll: Backend = "poll".parse()?;
/// assert_eq!(poll.name(), "poll");
/// for backend in Backend::available() {
///     println!("compiled in: {}", backend.name());
/// }
/// assert!("select".parse::<Backend>().is_err()); // InvalidInput, listing the names
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// epoll(7), Linux and Android.
    Epoll,
    /// kqueue(2), Apple platforms and the BSDs.
    Kqueue,
    /// The `polling` crate: epoll, kqueue, event ports, IOCP/AFD.
    Polling,
    /// poll(2), every Unix.
    Poll,
    /// io_uring(7) poll requests, Linux (feature `uring`, opt-in).
    Uring,
}

impl Backend {
    /// Every backend, in the priority order `DefaultSelector` and the fallback use.
    /// io_uring comes after the others: it is opt-in, the kernel may refuse it, and a
    /// process that enables it picks it by name (`SELECTIO_BACKEND=uring`).
    pub const ALL: [Backend; 5] = [
        Backend::Epoll,
        Backend::Kqueue,
        Backend::Polling,
        Backend::Poll,
        Backend::Uring,
    ];

    /// The backend's name as `Selector::name` and `SELECTIO_BACKEND` spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Epoll => "epoll",
            Backend::Kqueue => "kqueue",
            Backend::Polling => "polling",
            Backend::Poll => "poll",
            Backend::Uring => "uring",
        }
    }

    /// Whether this backend is compiled in for this target.
    pub const fn is_compiled(self) -> bool {
        match self {
            Backend::Epoll => cfg!(selectio_epoll),
            Backend::Kqueue => cfg!(selectio_kqueue),
            Backend::Polling => cfg!(selectio_polling),
            Backend::Poll => cfg!(selectio_poll),
            Backend::Uring => cfg!(selectio_uring),
        }
    }

    /// The backends compiled in for this target, in priority order.
    pub fn available() -> impl Iterator<Item = Backend> {
        Backend::ALL.into_iter().filter(|b| b.is_compiled())
    }

    /// Whether this target has the backend's kernel interface, compiled in or not.
    const fn exists_here(self) -> bool {
        match self {
            Backend::Epoll => cfg!(selectio_linux_like),
            Backend::Kqueue => cfg!(selectio_kqueue_os),
            Backend::Polling => true,
            Backend::Poll => cfg!(unix),
            Backend::Uring => cfg!(target_os = "linux"),
        }
    }

    /// Why the backend is not compiled in, and what would compile it: its feature where
    /// the target has it, nothing where it does not.
    fn not_compiled(self) -> io::Error {
        let here: Vec<&str> = Backend::available().map(|b| b.name()).collect();
        let why = if self.exists_here() {
            let default = if matches!(self, Backend::Polling | Backend::Uring) {
                ""
            } else {
                ", a default feature"
            };
            format!("its feature is off: build with `--features {self}`{default}")
        } else {
            let (interface, targets) = match self {
                Backend::Epoll => ("epoll(7)", "Linux and Android"),
                Backend::Kqueue => ("kqueue(2)", "Apple platforms and the BSDs"),
                Backend::Poll => ("poll(2)", "Unix"),
                Backend::Polling => ("polling", "every target"),
                Backend::Uring => ("io_uring", "Linux"),
            };
            format!("this target has no {interface} ({targets} only)")
        };
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "selectio: backend {self} is not compiled in: {why}; compiled in here: {}",
                here.join(", ")
            ),
        )
    }

    fn names() -> String {
        let all: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
        let here: Vec<&str> = Backend::available().map(|b| b.name()).collect();
        format!("{} (compiled in here: {})", all.join("|"), here.join(", "))
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = io::Error;

    /// Parses a backend name; an unknown one is `InvalidInput` listing the valid names.
    fn from_str(s: &str) -> io::Result<Backend> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "selectio: unknown backend {s:?}; valid names: {}",
                        Backend::names()
                    ),
                )
            })
    }
}

/// A selector over whichever compiled-in backend was chosen at run time.
///
/// Events are decoded from the chosen backend's raw events into [`Event`]s as `select`
/// returns (one copy per event); the backend's own buffer is kept and reused, so there is
/// no allocation per `select` once the capacity is known.
///
/// An `EventLoop<H, AnySelector>` runs on whichever backend was chosen; write the
/// handler as `impl<S: Selector> Handler<S>` and it runs on this one too.
///
/// ```
/// use selectio::{AnySelector, Backend, EventLoop, Handler, Selector};
///
/// struct App;
///
/// impl<S: Selector> Handler<S> for App {
///     type Timeout = ();
///     type Message = ();
/// }
///
/// // The backend `SELECTIO_BACKEND` names, or the first that starts.
/// let selector = AnySelector::from_env()?;
/// println!("running on {}", selector.backend().name());
/// for (backend, why) in selector.fallbacks() {
///     println!("{} did not start: {why}", backend.name());
/// }
/// let el: EventLoop<App, AnySelector> = EventLoop::builder().build_with(selector)?;
/// # drop(el);
///
/// // Or one by name: every backend compiled in for this target.
/// for backend in Backend::available() {
///     match AnySelector::with_backend(backend) {
///         Ok(selector) => assert_eq!(selector.name(), backend.name()),
///         Err(e) => println!("{}: {e}", backend.name()), // io_uring switched off, say
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct AnySelector {
    inner: Inner,
    fallbacks: Vec<(Backend, io::Error)>,
}

enum Inner {
    #[cfg(selectio_epoll)]
    Epoll(Dispatch<Epoll>),
    #[cfg(selectio_kqueue)]
    Kqueue(Dispatch<Kqueue>),
    #[cfg(selectio_polling)]
    Polling(Dispatch<Polling>),
    #[cfg(selectio_poll)]
    Poll(Dispatch<Poll>),
    /// Boxed: the ring's state makes it the largest by far.
    #[cfg(selectio_uring)]
    Uring(Box<Dispatch<Uring>>),
}

/// Calls `$body` with `$d` bound to the chosen backend's `Dispatch`.
macro_rules! dispatch {
    ($inner:expr, $d:ident => $body:expr) => {
        match $inner {
            #[cfg(selectio_epoll)]
            Inner::Epoll($d) => $body,
            #[cfg(selectio_kqueue)]
            Inner::Kqueue($d) => $body,
            #[cfg(selectio_polling)]
            Inner::Polling($d) => $body,
            #[cfg(selectio_poll)]
            Inner::Poll($d) => $body,
            #[cfg(selectio_uring)]
            Inner::Uring($d) => $body,
        }
    };
}

struct Dispatch<S: Selector> {
    selector: S,
    /// The backend's own event buffer, sized like the caller's.
    scratch: Mutex<Option<Events<S>>>,
}

impl<S: Selector> Dispatch<S> {
    fn start() -> io::Result<Dispatch<S>> {
        Ok(Dispatch {
            selector: S::new()?,
            scratch: Mutex::new(None),
        })
    }

    fn select(&self, out: &mut Events<AnySelector>, timeout: Option<Duration>) -> io::Result<()> {
        let mut scratch = match self.scratch.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            // Another thread is selecting (it holds the scratch buffer).
            Err(TryLockError::WouldBlock) => return Err(errors::busy(self.selector.name())),
        };
        if scratch.as_ref().map(Events::capacity) != Some(out.capacity()) {
            *scratch = Some(Events::with_capacity(out.capacity())?);
        }
        let Some(buf) = scratch.as_mut() else {
            unreachable!("scratch was just filled")
        };
        out.clear();
        let result = self.selector.select(buf, timeout);
        // Same capacity: every event fits.
        for event in buf.iter() {
            let _ = out.push(event);
        }
        result
    }
}

impl AnySelector {
    /// Starts `backend`; `Unsupported` if it is not compiled in for this target.
    pub fn with_backend(backend: Backend) -> io::Result<AnySelector> {
        let inner = match backend {
            #[cfg(selectio_epoll)]
            Backend::Epoll => Inner::Epoll(Dispatch::start()?),
            #[cfg(selectio_kqueue)]
            Backend::Kqueue => Inner::Kqueue(Dispatch::start()?),
            #[cfg(selectio_polling)]
            Backend::Polling => Inner::Polling(Dispatch::start()?),
            #[cfg(selectio_poll)]
            Backend::Poll => Inner::Poll(Dispatch::start()?),
            #[cfg(selectio_uring)]
            Backend::Uring => Inner::Uring(Box::new(Dispatch::start()?)),
            #[allow(unreachable_patterns)]
            other => return Err(other.not_compiled()),
        };
        Ok(AnySelector {
            inner,
            fallbacks: Vec::new(),
        })
    }

    /// Starts the backend named by `SELECTIO_BACKEND` (`epoll|kqueue|poll|polling|uring`),
    /// or the first of epoll → kqueue → polling → poll → uring when it is unset or empty.
    ///
    /// When the chosen backend cannot start (not compiled in, or blocked by a sandbox),
    /// the others are tried in priority order; [`backend`](AnySelector::backend) tells
    /// which one runs and [`fallbacks`](AnySelector::fallbacks) why the others did not.
    /// An unknown name is an `InvalidInput` error listing the valid names.
    pub fn from_env() -> io::Result<AnySelector> {
        let requested = match std::env::var(BACKEND_ENV) {
            Ok(name) if !name.trim().is_empty() => Some(name.parse::<Backend>()?),
            _ => None,
        };
        choose(requested, AnySelector::with_backend)
    }

    /// The backend that runs.
    pub fn backend(&self) -> Backend {
        match &self.inner {
            #[cfg(selectio_epoll)]
            Inner::Epoll(_) => Backend::Epoll,
            #[cfg(selectio_kqueue)]
            Inner::Kqueue(_) => Backend::Kqueue,
            #[cfg(selectio_polling)]
            Inner::Polling(_) => Backend::Polling,
            #[cfg(selectio_poll)]
            Inner::Poll(_) => Backend::Poll,
            #[cfg(selectio_uring)]
            Inner::Uring(_) => Backend::Uring,
        }
    }

    /// The backends tried before the one that runs, with the error each gave.
    pub fn fallbacks(&self) -> &[(Backend, io::Error)] {
        &self.fallbacks
    }
}

/// Tries `requested` (if any), then every backend in priority order, until one starts.
fn choose(
    requested: Option<Backend>,
    mut start: impl FnMut(Backend) -> io::Result<AnySelector>,
) -> io::Result<AnySelector> {
    let order = requested
        .into_iter()
        .chain(Backend::ALL.into_iter().filter(|b| Some(*b) != requested));
    let mut fallbacks = Vec::new();
    for backend in order {
        match start(backend) {
            Ok(mut selector) => {
                trace!(
                    backend = backend.name(),
                    failed = fallbacks.len(),
                    "selectio backend chosen"
                );
                selector.fallbacks = fallbacks;
                return Ok(selector);
            }
            Err(err) => fallbacks.push((backend, err)),
        }
    }
    let reasons: Vec<String> = fallbacks.iter().map(|(b, e)| format!("{b}: {e}")).collect();
    trace!(reasons = ?reasons, "selectio: no backend could start");
    // The first OS error, as it is: a caller must still see EMFILE (out of fds) or EPERM
    // (a sandbox) through `raw_os_error`, which a wrapped error would hide.
    if let Some(errno) = fallbacks.iter().find_map(|(_, e)| e.raw_os_error()) {
        return Err(io::Error::from_raw_os_error(errno));
    }
    Err(io::Error::other(format!(
        "selectio: no backend could start ({})",
        reasons.join("; ")
    )))
}

impl fmt::Debug for AnySelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnySelector")
            .field("backend", &self.backend())
            .field("fallbacks", &self.fallbacks)
            .finish()
    }
}

// SAFETY: it hands every borrow to one of the backends above, each of which implements the trait.
#[cfg(feature = "conformance")]
unsafe impl crate::conformance::FdsAsNumbers for AnySelector {}

impl Selector for AnySelector {
    type RawEvent = Event;

    /// The same as [`AnySelector::from_env`].
    fn new() -> io::Result<AnySelector> {
        AnySelector::from_env()
    }

    fn name(&self) -> &'static str {
        self.backend().name()
    }

    fn capabilities(&self) -> Capabilities {
        dispatch!(&self.inner, d => d.selector.capabilities())
    }

    fn register(
        &self,
        fd: BorrowedSource<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        dispatch!(&self.inner, d => d.selector.register(fd, token, interest, mode))
    }

    fn reregister(
        &self,
        fd: BorrowedSource<'_>,
        token: Token,
        interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        dispatch!(&self.inner, d => d.selector.reregister(fd, token, interest, mode))
    }

    fn deregister(&self, fd: BorrowedSource<'_>) -> io::Result<()> {
        dispatch!(&self.inner, d => d.selector.deregister(fd))
    }

    fn select(
        &self,
        events: &mut Events<AnySelector>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        dispatch!(&self.inner, d => d.select(events, timeout))
    }

    fn wake(&self) -> io::Result<()> {
        dispatch!(&self.inner, d => d.selector.wake())
    }

    fn decode(raw: &Event) -> Event {
        *raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_name_lists_valid_names() {
        let err = "epol".parse::<Backend>().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let msg = err.to_string();
        for b in Backend::ALL {
            assert!(msg.contains(b.name()), "{msg}");
        }
    }

    #[test]
    fn names_round_trip() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>().unwrap(), b);
            assert_eq!(b.name().to_uppercase().parse::<Backend>().unwrap(), b);
        }
    }

    #[test]
    fn fallback_follows_priority_and_reports_failures() {
        let first = Backend::available().next().expect("a backend");
        let mut tried = Vec::new();
        // Pretend the requested backend (the last in priority) is blocked by a sandbox.
        let requested = Backend::Poll;
        let chosen = choose(Some(requested), |b| {
            tried.push(b);
            if b == requested {
                Err(io::Error::new(io::ErrorKind::PermissionDenied, "blocked"))
            } else {
                AnySelector::with_backend(b)
            }
        })
        .unwrap();
        assert_eq!(tried[0], requested);
        let expected = if first == requested {
            Backend::available().nth(1)
        } else {
            Some(first)
        };
        assert_eq!(Some(chosen.backend()), expected);
        assert_eq!(chosen.fallbacks()[0].0, requested);
        assert_eq!(
            chosen.fallbacks()[0].1.kind(),
            io::ErrorKind::PermissionDenied
        );
    }

    #[test]
    fn nothing_starts_is_an_error_naming_each_backend() {
        let err = choose(None, |b| Err(io::Error::other(format!("{b} refused")))).unwrap_err();
        for b in Backend::ALL {
            assert!(err.to_string().contains(&format!("{b} refused")));
        }
    }

    #[test]
    #[cfg(unix)]
    fn out_of_fds_everywhere_keeps_the_os_error() {
        let err = choose(None, |b| match b.is_compiled() {
            true => Err(io::Error::from_raw_os_error(libc::EMFILE)),
            false => AnySelector::with_backend(b),
        })
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err:?}");
    }

    #[test]
    fn not_compiled_in_is_unsupported() {
        for b in Backend::ALL.into_iter().filter(|b| !b.is_compiled()) {
            let err = AnySelector::with_backend(b).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        }
    }
}
