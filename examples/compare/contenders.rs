//! The contenders: `EventLoop` on every backend compiled in, and the peers with the same
//! per-connection logic (raw epoll and raw poll(2) in `raw.rs`, mio, `polling` used
//! directly).

use std::io;
use std::net::TcpStream;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd};

use selectio::{EventLoop, Handler, Interest, Mode, Selector, Token};

use crate::echo::{self, Change, Phase, ServerArgs, ServerStats, Slab, EVENTS, LISTENER};
use crate::idle::{IdleArgs, IdleResult, PingPipe};
use crate::{os, raw};

/// One way of serving the echo workload and the idle ping-pong.
#[derive(Clone, Copy)]
pub struct Contender {
    pub name: &'static str,
    /// Runs on the server thread until every connection has closed.
    pub serve: fn(ServerArgs) -> io::Result<ServerStats>,
    pub idle: fn(&IdleArgs<'_>) -> io::Result<IdleResult>,
    /// An `EventLoop` server (its allocations are counted by `--check-allocs`).
    pub event_loop: bool,
    /// It has a oneshot mode (`--mode oneshot` runs only these).
    pub oneshot: bool,
}

pub const RAW_EPOLL: &str = "raw epoll";
pub const RAW_POLL: &str = "raw poll(2)";
pub const MIO: &str = "mio";
pub const POLLING_DIRECT: &str = "polling direct";
pub const EL_EPOLL: &str = "EventLoop<Epoll>";
pub const EL_POLL: &str = "EventLoop<Poll>";
pub const EL_POLLING: &str = "EventLoop<Polling>";
pub const EL_URING: &str = "EventLoop<Uring>";
/// `EventLoop<Epoll>` registered Edge in a `--mode oneshot` run: the same loop and server
/// with no re-arm at all, the speed a Oneshot loop on epoll would reach if re-arming were
/// free.
pub const EL_EPOLL_EDGE: &str = "EventLoop<Epoll> edge";

/// The performance targets the benchmark checks (DESIGN.md's budgets): `(contender,
/// peer, least paired ratio)`.
pub const TARGETS: [(&str, &str, f64); 4] = [
    (EL_EPOLL, RAW_EPOLL, 0.99),
    (EL_EPOLL, MIO, 1.00),
    (EL_POLL, RAW_POLL, 0.97),
    (EL_POLLING, POLLING_DIRECT, 0.97),
];

/// The io_uring backend's targets (its issue) for a run's mode and connection count, in
/// req/s: `(contender, peer, least paired ratio)`, where no bound marks a reference shown
/// beside them. Oneshot: ≥ 1.02 × `EventLoop<Epoll>` at C=1, ≥ 1.10 at C=64 (and above,
/// where batching only grows), and `EventLoop<Uring>` ÷ the no-re-arm reference; Edge and
/// Level: ≥ 1.00.
pub fn uring_targets(
    oneshot: bool,
    connections: usize,
) -> Vec<(&'static str, &'static str, Option<f64>)> {
    if !oneshot {
        return vec![(EL_URING, EL_EPOLL, Some(1.00))];
    }
    let bound = match connections {
        1 => Some(1.02),
        64.. => Some(1.10),
        _ => None,
    };
    vec![(EL_URING, EL_EPOLL, bound), (EL_URING, EL_EPOLL_EDGE, None)]
}

#[cfg(feature = "epoll")]
const SEL_EPOLL: &str = "Selector<Epoll>";
#[cfg(feature = "poll")]
const SEL_POLL: &str = "Selector<Poll>";
#[cfg(feature = "polling")]
const SEL_POLLING: &str = "Selector<Polling>";

/// Every contender compiled in; the reference (raw epoll) first. With `selectors`, each
/// backend also runs through the `Selector` trait alone, without the `EventLoop` (a
/// diagnostic: it splits the loop's overhead from the backend's). With `oneshot`,
/// [`EL_EPOLL_EDGE`] follows `EventLoop<Epoll>`.
pub fn all(selectors: bool, oneshot: bool) -> Vec<Contender> {
    let mut all = standard(oneshot);
    if selectors {
        #[cfg(feature = "epoll")]
        all.push(selector::<selectio::backends::Epoll>(SEL_EPOLL));
        #[cfg(feature = "poll")]
        all.push(selector::<selectio::backends::Poll>(SEL_POLL));
        #[cfg(feature = "polling")]
        all.push(selector::<selectio::backends::Polling>(SEL_POLLING));
    }
    all
}

fn standard(oneshot: bool) -> Vec<Contender> {
    let mut all = vec![peer(RAW_EPOLL, raw::serve_epoll, raw::idle_epoll)];
    #[cfg(feature = "epoll")]
    {
        type Epoll = selectio::backends::Epoll;
        all.push(event_loop::<Epoll>(EL_EPOLL));
        if oneshot {
            all.push(Contender {
                serve: serve_edge::<Epoll>,
                idle: idle_edge::<Epoll>,
                ..event_loop::<Epoll>(EL_EPOLL_EDGE)
            });
        }
    }
    #[cfg(not(feature = "epoll"))]
    let _ = oneshot;
    all.push(Contender {
        oneshot: false,
        ..peer(MIO, serve_mio, idle_mio)
    });
    all.push(Contender {
        oneshot: false,
        ..peer(RAW_POLL, raw::serve_poll, raw::idle_poll)
    });
    #[cfg(feature = "poll")]
    all.push(event_loop::<selectio::backends::Poll>(EL_POLL));
    all.push(peer(POLLING_DIRECT, serve_polling, idle_polling));
    #[cfg(feature = "polling")]
    all.push(event_loop::<selectio::backends::Polling>(EL_POLLING));
    #[cfg(selectio_uring)]
    all.push(event_loop::<selectio::backends::Uring>(EL_URING));
    all
}

/// The backends compiled into this build, and the ones that are not.
pub fn backends() -> (Vec<&'static str>, Vec<&'static str>) {
    let all = [
        ("epoll", cfg!(feature = "epoll")),
        ("poll", cfg!(feature = "poll")),
        ("polling", cfg!(feature = "polling")),
        ("uring", cfg!(selectio_uring)),
    ];
    let on = all.iter().filter(|b| b.1).map(|b| b.0).collect();
    let off = all.iter().filter(|b| !b.1).map(|b| b.0).collect();
    (on, off)
}

fn peer(
    name: &'static str,
    serve: fn(ServerArgs) -> io::Result<ServerStats>,
    idle: fn(&IdleArgs<'_>) -> io::Result<IdleResult>,
) -> Contender {
    Contender {
        name,
        serve,
        idle,
        event_loop: false,
        oneshot: true,
    }
}

fn event_loop<S: Selector>(name: &'static str) -> Contender {
    Contender {
        event_loop: true,
        ..peer(name, serve_event_loop::<S>, idle_event_loop::<S>)
    }
}

/// Whether a wait (`select`, `poll`) returned events: `Ok(false)` when a signal
/// interrupted it (the caller waits again), its error otherwise.
fn woke(waited: io::Result<()>) -> io::Result<bool> {
    match waited {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

fn selector<S: Selector>(name: &'static str) -> Contender {
    peer(name, serve_selector::<S>, idle_selector::<S>)
}

/// The echo server on a bare `Selector`: `select`, then the events as decoded.
fn serve_selector<S: Selector>(args: ServerArgs) -> io::Result<ServerStats> {
    let sel = S::new()?;
    let mut events = selectio::Events::<S>::with_capacity(EVENTS)?;
    let mode = conn_mode(&sel, &args);
    let listener_fd = args.listener.as_fd();
    sel.register(
        listener_fd,
        Token(LISTENER),
        Interest::READABLE,
        Mode::Level,
    )?;
    let mut slab = Slab::new(args.connections);
    while !slab.done() {
        if !woke(sel.select(&mut events, None))? {
            continue;
        }
        for ev in events.iter() {
            let token = ev.token().0;
            if token == LISTENER {
                while let Some(stream) = echo::accept(&args.listener)? {
                    let t = slab.insert(stream);
                    let conn = slab.get(t).expect("the connection just inserted");
                    sel.register(conn.stream.as_fd(), Token(t), Interest::READABLE, mode)?;
                }
                continue;
            }
            let Some(conn) = slab.get(token) else {
                continue;
            };
            let t = Token(token);
            let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
            let change = conn.ready(readable, ev.is_writable() || ev.is_write_closed());
            let fd = conn.stream.as_fd();
            match change {
                Change::Keep if mode == Mode::Oneshot => {
                    sel.reregister(fd, t, rearm_interest(conn.pending()), mode)?
                }
                Change::Keep => {}
                Change::WantWrite => sel.reregister(fd, t, Interest::WRITABLE, mode)?,
                Change::WantRead => sel.reregister(fd, t, Interest::READABLE, mode)?,
                Change::Close => {
                    sel.deregister(fd)?;
                    slab.remove(token);
                }
            }
        }
    }
    sel.deregister(listener_fd)?;
    Ok(ServerStats {
        errors: slab.errors,
        allocations: None,
    })
}

fn idle_selector<S: Selector>(args: &IdleArgs<'_>) -> io::Result<IdleResult> {
    let sel = S::new()?;
    let mut events = selectio::Events::<S>::with_capacity(EVENTS)?;
    let mode = mode_for(&sel, args.edge);
    for (i, s) in args.idle.iter().enumerate() {
        sel.register(s.as_fd(), Token(i + 1), Interest::READABLE, mode)?;
    }
    let pipe = PingPipe::new()?;
    sel.register(pipe.reader().as_fd(), Token(0), Interest::READABLE, mode)?;
    let result = args.run(|| {
        if woke(sel.select(&mut events, None))? && events.iter().any(|ev| ev.token() == Token(0)) {
            pipe.bounce()?;
        }
        Ok(())
    });
    sel.deregister(pipe.reader().as_fd())?;
    for s in args.idle {
        sel.deregister(s.as_fd())?;
    }
    result
}

/// The echo server as an `EventLoop` handler.
struct EchoHandler {
    listener: std::net::TcpListener,
    slab: Slab<TcpStream>,
    mode: Mode,
    errors: u64,
}

impl EchoHandler {
    fn accept<S: Selector>(&mut self, el: &mut EventLoop<Self, S>) {
        loop {
            match echo::accept(&self.listener) {
                Ok(Some(stream)) => {
                    let token = self.slab.insert(stream);
                    let Some(conn) = self.slab.get(token) else {
                        return;
                    };
                    let r = el.register(&conn.stream, Token(token), Interest::READABLE, self.mode);
                    self.errors += u64::from(r.is_err());
                }
                Ok(None) => return,
                Err(_) => {
                    self.errors += 1;
                    return;
                }
            }
        }
    }

    // Inlined into the callbacks, as the peers' loops have this glue inline.
    #[inline(always)]
    fn conn<S: Selector>(&mut self, el: &mut EventLoop<Self, S>, t: Token, r: bool, w: bool) {
        let Some(conn) = self.slab.get(t.0) else {
            return;
        };
        let result = match conn.ready(r, w) {
            Change::Keep if self.mode == Mode::Oneshot => {
                el.reregister(&conn.stream, t, rearm_interest(conn.pending()), self.mode)
            }
            Change::Keep => Ok(()),
            Change::WantWrite => el.reregister(&conn.stream, t, Interest::WRITABLE, self.mode),
            Change::WantRead => el.reregister(&conn.stream, t, Interest::READABLE, self.mode),
            Change::Close => {
                let result = el.deregister(&conn.stream);
                self.slab.remove(t.0);
                if self.slab.done() {
                    el.shutdown();
                }
                result
            }
        };
        self.errors += u64::from(result.is_err());
    }
}

impl<S: Selector> Handler<S> for EchoHandler {
    type Timeout = ();
    type Message = ();

    fn readable(&mut self, el: &mut EventLoop<Self, S>, token: Token) {
        if token.0 == LISTENER {
            self.accept(el);
        } else {
            self.conn(el, token, true, false);
        }
    }

    fn writable(&mut self, el: &mut EventLoop<Self, S>, token: Token) {
        self.conn(el, token, false, true);
    }
}

/// The EventLoop server registering its connections Edge whatever the run's mode.
#[cfg(feature = "epoll")]
fn serve_edge<S: Selector>(args: ServerArgs) -> io::Result<ServerStats> {
    serve_event_loop::<S>(ServerArgs {
        edge: true,
        oneshot: false,
        ..args
    })
}

/// The idle ping-pong of [`serve_edge`]'s loop, registered Edge too.
#[cfg(feature = "epoll")]
fn idle_edge<S: Selector>(args: &IdleArgs<'_>) -> io::Result<IdleResult> {
    idle_event_loop::<S>(&IdleArgs {
        edge: true,
        ..*args
    })
}

/// The connections' mode: Oneshot for `--mode oneshot`, else as [`mode_for`].
fn conn_mode<S: Selector>(selector: &S, args: &ServerArgs) -> Mode {
    if args.oneshot {
        Mode::Oneshot
    } else {
        mode_for(selector, args.edge)
    }
}

/// What a oneshot registration is re-armed for after `Change::Keep`.
fn rearm_interest(pending: bool) -> Interest {
    if pending {
        Interest::WRITABLE
    } else {
        Interest::READABLE
    }
}

/// Edge-triggered where asked for and the backend has it, else level-triggered.
fn mode_for<S: Selector>(selector: &S, edge: bool) -> Mode {
    if edge && selector.capabilities().supports(Mode::Edge) {
        Mode::Edge
    } else {
        Mode::Level
    }
}

fn serve_event_loop<S: Selector>(args: ServerArgs) -> io::Result<ServerStats> {
    let mut el = EventLoop::<EchoHandler, S>::builder()
        .events_capacity(EVENTS)
        .build()?;
    let mode = conn_mode(el.selector(), &args);
    el.register(
        &args.listener,
        Token(LISTENER),
        Interest::READABLE,
        Mode::Level,
    )?;
    let mut h = EchoHandler {
        listener: args.listener,
        slab: Slab::new(args.connections),
        mode,
        errors: 0,
    };
    let allocations = if args.check_allocs {
        run_counting(&mut el, &mut h, &args.phase)?
    } else {
        el.run(&mut h)?;
        None
    };
    el.deregister(&h.listener)?;
    Ok(ServerStats {
        errors: h.errors + h.slab.errors,
        allocations,
    })
}

/// Runs the loop iteration by iteration, counting the allocations of the iterations
/// that start while the client measures.
fn run_counting<S: Selector>(
    el: &mut EventLoop<EchoHandler, S>,
    h: &mut EchoHandler,
    phase: &Phase,
) -> io::Result<Option<u64>> {
    while phase.get() == Phase::WARMUP && !h.slab.done() {
        el.run_once(h, None)?;
    }
    let mut result = Ok(());
    let allocations = count_allocations(|| {
        while phase.get() == Phase::MEASURE && !h.slab.done() {
            if let Err(e) = el.run_once(h, None) {
                result = Err(e);
                return;
            }
        }
    });
    result?;
    phase.set(Phase::COUNTED);
    while !h.slab.done() {
        el.run_once(h, None)?;
    }
    Ok(allocations)
}

#[cfg(feature = "conformance")]
fn count_allocations(f: impl FnOnce()) -> Option<u64> {
    Some(selectio::conformance::count_allocations(f) as u64)
}

#[cfg(not(feature = "conformance"))]
fn count_allocations(f: impl FnOnce()) -> Option<u64> {
    f();
    None
}

/// The idle ping-pong as an `EventLoop` handler.
struct IdleHandler {
    pipe: PingPipe,
    error: Option<io::Error>,
}

impl<S: Selector> Handler<S> for IdleHandler {
    type Timeout = ();
    type Message = ();

    fn readable(&mut self, _: &mut EventLoop<Self, S>, token: Token) {
        if token == Token(0) {
            if let Err(e) = self.pipe.bounce() {
                self.error = Some(e);
            }
        }
    }
}

fn idle_event_loop<S: Selector>(args: &IdleArgs<'_>) -> io::Result<IdleResult> {
    let mut el = EventLoop::<IdleHandler, S>::builder()
        .events_capacity(EVENTS)
        .build()?;
    let mode = mode_for(el.selector(), args.edge);
    for (i, s) in args.idle.iter().enumerate() {
        el.register(s, Token(i + 1), Interest::READABLE, mode)?;
    }
    let mut h = IdleHandler {
        pipe: PingPipe::new()?,
        error: None,
    };
    el.register(h.pipe.reader(), Token(0), Interest::READABLE, mode)?;
    let result = args.run(|| {
        el.run_once(&mut h, None)?;
        h.error.take().map_or(Ok(()), Err)
    });
    el.deregister(h.pipe.reader())?;
    for s in args.idle {
        el.deregister(s)?;
    }
    result
}

/// mio 1.x: always edge-triggered.
fn serve_mio(args: ServerArgs) -> io::Result<ServerStats> {
    use mio::{Events, Interest, Poll, Token};
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(EVENTS);
    let listener_fd = args.listener.as_raw_fd();
    let mut listener_src = mio::unix::SourceFd(&listener_fd);
    poll.registry()
        .register(&mut listener_src, Token(LISTENER), Interest::READABLE)?;
    let mut slab = Slab::new(args.connections);
    while !slab.done() {
        if !woke(poll.poll(&mut events, None))? {
            continue;
        }
        for ev in events.iter() {
            let token = ev.token().0;
            if token == LISTENER {
                while let Some(stream) = echo::accept(&args.listener)? {
                    let t = slab.insert(mio::net::TcpStream::from_std(stream));
                    if let Some(conn) = slab.get(t) {
                        poll.registry()
                            .register(&mut conn.stream, Token(t), Interest::READABLE)?;
                    }
                }
                continue;
            }
            let Some(conn) = slab.get(token) else {
                continue;
            };
            let readable = ev.is_readable() || ev.is_error() || ev.is_read_closed();
            match conn.ready(readable, ev.is_writable()) {
                Change::Keep => {}
                Change::WantWrite => poll.registry().reregister(
                    &mut conn.stream,
                    Token(token),
                    Interest::WRITABLE,
                )?,
                Change::WantRead => poll.registry().reregister(
                    &mut conn.stream,
                    Token(token),
                    Interest::READABLE,
                )?,
                Change::Close => {
                    poll.registry().deregister(&mut conn.stream)?;
                    slab.remove(token);
                }
            }
        }
    }
    poll.registry().deregister(&mut listener_src)?;
    Ok(ServerStats {
        errors: slab.errors,
        allocations: None,
    })
}

fn idle_mio(args: &IdleArgs<'_>) -> io::Result<IdleResult> {
    use mio::{Events, Interest, Poll, Token};
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(EVENTS);
    let fds: Vec<_> = args.idle.iter().map(|s| s.as_raw_fd()).collect();
    for (i, fd) in fds.iter().enumerate() {
        let src = &mut mio::unix::SourceFd(fd);
        poll.registry()
            .register(src, Token(i + 1), Interest::READABLE)?;
    }
    let pipe = PingPipe::new()?;
    let pipe_fd = pipe.reader_fd();
    poll.registry().register(
        &mut mio::unix::SourceFd(&pipe_fd),
        Token(0),
        Interest::READABLE,
    )?;
    let result = args.run(|| {
        if woke(poll.poll(&mut events, None))? && events.iter().any(|ev| ev.token() == Token(0)) {
            pipe.bounce()?;
        }
        Ok(())
    });
    poll.registry()
        .deregister(&mut mio::unix::SourceFd(&pipe_fd))?;
    for fd in &fds {
        poll.registry().deregister(&mut mio::unix::SourceFd(fd))?;
    }
    result
}

const EVENTS_NZ: NonZeroUsize = match NonZeroUsize::new(EVENTS) {
    Some(n) => n,
    None => panic!("EVENTS is not zero"),
};

/// `polling` used directly, edge-triggered where it supports it (epoll: yes).
fn serve_polling(args: ServerArgs) -> io::Result<ServerStats> {
    use polling::{Event, Events, PollMode, Poller};
    let poller = Poller::new()?;
    let mut events = Events::with_capacity(EVENTS_NZ);
    let mode = if args.oneshot {
        PollMode::Oneshot
    } else if args.edge && poller.supports_edge() {
        PollMode::Edge
    } else {
        PollMode::Level
    };
    os::polling_add(
        &poller,
        &args.listener,
        Event::readable(LISTENER),
        PollMode::Level,
    )?;
    let mut slab = Slab::new(args.connections);
    while !slab.done() {
        events.clear();
        poller.wait(&mut events, None)?;
        for ev in events.iter() {
            if ev.key == LISTENER {
                while let Some(stream) = echo::accept(&args.listener)? {
                    let t = slab.insert(stream);
                    if let Some(conn) = slab.get(t) {
                        os::polling_add(&poller, &conn.stream, Event::readable(t), mode)?;
                    }
                }
                continue;
            }
            let Some(conn) = slab.get(ev.key) else {
                continue;
            };
            match conn.ready(ev.readable, ev.writable) {
                Change::Keep if args.oneshot => {
                    let ev = match conn.pending() {
                        true => Event::writable(ev.key),
                        false => Event::readable(ev.key),
                    };
                    poller.modify_with_mode(&conn.stream, ev, mode)?
                }
                Change::Keep => {}
                Change::WantWrite => {
                    poller.modify_with_mode(&conn.stream, Event::writable(ev.key), mode)?
                }
                Change::WantRead => {
                    poller.modify_with_mode(&conn.stream, Event::readable(ev.key), mode)?
                }
                Change::Close => {
                    poller.delete(&conn.stream)?;
                    slab.remove(ev.key);
                }
            }
        }
    }
    poller.delete(&args.listener)?;
    Ok(ServerStats {
        errors: slab.errors,
        allocations: None,
    })
}

fn idle_polling(args: &IdleArgs<'_>) -> io::Result<IdleResult> {
    use polling::{Event, Events, PollMode, Poller};
    let poller = Poller::new()?;
    let mut events = Events::with_capacity(EVENTS_NZ);
    let mode = if args.edge && poller.supports_edge() {
        PollMode::Edge
    } else {
        PollMode::Level
    };
    for (i, s) in args.idle.iter().enumerate() {
        os::polling_add(&poller, s, Event::readable(i + 1), mode)?;
    }
    let pipe = PingPipe::new()?;
    os::polling_add(&poller, pipe.reader(), Event::readable(0), mode)?;
    let result = args.run(|| {
        events.clear();
        poller.wait(&mut events, None)?;
        if events.iter().any(|ev| ev.key == 0) {
            pipe.bounce()?;
        }
        Ok(())
    });
    poller.delete(pipe.reader())?;
    for s in args.idle {
        poller.delete(s)?;
    }
    result
}
