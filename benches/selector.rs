//! Selector benchmarks: every compiled-in backend beside hand-written epoll and poll(2) loops.
//!
//! One run has two parts, both over the same contenders (each backend through the
//! [`Selector`](selectio::Selector) trait, plus the reference loops `raw-epoll`,
//! `raw-poll` and, with the `polling` feature, `polling-direct`):
//!
//! 1. criterion groups: `pingpong` (one thread writes one byte into a non-blocking pipe,
//!    waits for readability through the contender, reads the byte back), `churn_N_fds`
//!    (register then deregister N pipe fds, N = 10,000 by default) and `select_zero` (an
//!    empty `select(Some(Duration::ZERO))`).
//! 2. the paired-ratio table the performance budget is judged by: R rounds; in each round
//!    every contender runs the same number of ping-pongs, in 10 slices interleaved with the
//!    other contenders' in an order that rotates, and its ns/op is divided by each
//!    reference's ns/op *of that round*. The table shows the median and the min–max of those
//!    per-round ratios. They are computed from the thread's CPU time (user + system): the
//!    ping-pong never blocks, so that is its whole cost, minus the time other processes on
//!    a shared machine take the CPU away. The wall-clock ns/op is shown beside it.
//!
//! ```sh
//! cargo bench --bench selector                          # both parts, about 1-2 minutes
//! cargo bench --bench selector -- paired                # the table only (no group matches)
//! SELECTIO_BENCH_QUICK=1 cargo bench --bench selector   # smoke run, a few seconds
//! ```
//!
//! Environment: `SELECTIO_BENCH_ROUNDS` (default 15; 0 skips the table),
//! `SELECTIO_BENCH_PINGPONGS` (per contender and round, default 20,000),
//! `SELECTIO_BENCH_CLOCK=wall` (judge the table by wall-clock time instead),
//! `SELECTIO_BENCH_QUICK=1` (3 rounds of 500, short criterion timings, 1,000 churn fds;
//! also the default under `cargo test --benches`). criterion's own flags (`--quick`, a
//! name filter, `--measurement-time`, …) go after `--`.
//!
//! # Why this file contains `unsafe`
//! Benches are not library code. The crate denies `unsafe` outside `src/sys` and
//! `backends/`, but a reference loop has to call epoll and poll(2) itself (through libc),
//! and the bench needs `fcntl(O_NONBLOCK)` on its pipes, `setrlimit` for the fd limit and
//! `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` for the CPU clock.
//! Every block says why it is sound.
#![allow(unsafe_code)]

mod common;
#[cfg(unix)]
#[path = "../examples/compare/table.rs"]
mod table;

#[cfg(unix)]
fn main() {
    common::exit_on_error("selector", unix::main());
}

#[cfg(not(unix))]
fn main() {
    println!("selector bench: the pipe workloads and the raw reference loops need Unix; skipped");
}

#[cfg(unix)]
mod unix {
    use std::io::{self, PipeReader, PipeWriter, Read, Write};
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
    use std::time::{Duration, Instant};

    use criterion::{Criterion, SamplingMode, Throughput};
    use selectio::{Events, Interest, Mode, Selector, Token};

    use crate::common::{env_number, stats, thread_cpu_time};

    /// Token of the ping-pong pipe, in every contender.
    const PIPE: usize = 7;
    /// Token of the idle fd that stands in for a backend's waker in the reference loops.
    const IDLE: usize = usize::MAX;
    /// Events per select (the backends' `Events` and the reference loops' arrays).
    const CAPACITY: usize = 64;
    /// The churn's fd count (5,000 pipes), and the fds left for everything else.
    const CHURN_FDS: usize = 10_000;
    const HEADROOM: usize = 100;
    /// Each contender's ping-pongs of one paired round run in this many interleaved slices.
    const SLICES: u64 = 10;
    /// The budget of DESIGN.md: a backend within 3% of its reference loop.
    const TARGET: f64 = 1.03;

    pub(crate) fn main() -> io::Result<()> {
        let settings = Settings::from_env_and_args()?;
        let limit = raise_nofile_limit()?;
        // Declared before the contenders, so dropped after them: nothing registered with a
        // contender is closed while registered (polling's `add` asks for that).
        let churn_pipes = churn_pipes(settings.churn_fds, limit)?;
        let churn = churn_fds(&churn_pipes);
        let pipe = Pipe::new()?;
        let mut all = contenders()?;
        let mut criterion = settings.criterion();
        criterion_groups(&mut criterion, &mut all, &pipe, &churn);
        criterion.final_summary();
        if settings.rounds > 0 {
            let rounds = paired_rounds(&mut all, &pipe, &settings)?;
            print_table(&all, &rounds, &settings);
        }
        Ok(())
    }

    /// What to run, from the environment and criterion's command line.
    struct Settings {
        quick: bool,
        /// Judge the table by wall-clock time instead of the thread's CPU time.
        wall_clock: bool,
        rounds: usize,
        pingpongs: u64,
        churn_fds: usize,
    }

    impl Settings {
        fn from_env_and_args() -> io::Result<Settings> {
            // Under `cargo test --benches` criterion runs each benchmark once.
            let quick = crate::common::quick();
            let rounds = env_number("SELECTIO_BENCH_ROUNDS")?.unwrap_or(if quick { 3 } else { 15 });
            let pingpongs =
                env_number("SELECTIO_BENCH_PINGPONGS")?.unwrap_or(if quick { 500 } else { 20_000 });
            let wall_clock = match std::env::var("SELECTIO_BENCH_CLOCK").as_deref() {
                Ok("wall") => true,
                Ok("cpu") | Err(_) => false,
                Ok(other) => {
                    let msg = format!("SELECTIO_BENCH_CLOCK={other:?}: expected cpu or wall");
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
                }
            };
            Ok(Settings {
                quick,
                wall_clock,
                // `--list` only lists criterion's benchmarks.
                rounds: if std::env::args().any(|a| a == "--list") {
                    0
                } else {
                    rounds
                },
                pingpongs: pingpongs.max(1),
                churn_fds: if quick { CHURN_FDS / 10 } else { CHURN_FDS },
            })
        }

        /// Short timings so the whole bench stays well under 3 minutes; flags after `--`
        /// still override them.
        fn criterion(&self) -> Criterion {
            let (warm_up, measure, samples) = if self.quick {
                (Duration::from_millis(50), Duration::from_millis(200), 10)
            } else {
                (Duration::from_secs(1), Duration::from_secs(2), 100)
            };
            Criterion::default()
                .warm_up_time(warm_up)
                .measurement_time(measure)
                .sample_size(samples)
                .configure_from_args()
        }
    }

    // ---------------------------------------------------------------- contenders

    /// A contender's workloads; each times `n` repetitions, setup outside the clock.
    trait Ops {
        /// `n` ping-pongs on `pipe`: write one byte, wait until readable, read it.
        fn pingpong(&mut self, pipe: &Pipe, n: u64) -> io::Result<Timing>;
        /// `n` times: register every fd of `fds` (Level), then deregister them all.
        fn churn(&mut self, fds: &[ChurnFd<'_>], n: u64) -> io::Result<Timing>;
        /// `n` selects with a zero timeout, nothing registered.
        fn select_zero(&mut self, n: u64) -> io::Result<Timing>;
    }

    /// A contender of the table: a reference loop or a backend compared with one.
    struct Contender {
        name: &'static str,
        /// For a backend, the reference loop its budget is measured against.
        role: Role,
        ops: Box<dyn Ops>,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Role {
        Reference,
        Backend(Option<&'static str>),
    }

    /// Every contender this build has: the reference loops, then each backend (one line each).
    fn contenders() -> io::Result<Vec<Contender>> {
        let mut all = Vec::new();
        #[cfg(any(target_os = "linux", target_os = "android"))]
        all.push(reference("raw-epoll", raw_epoll::RawEpoll::new()?));
        all.push(reference("raw-poll", raw_poll::RawPoll::new()?));
        #[cfg(feature = "polling")]
        all.push(reference(
            "polling-direct",
            polling_direct::PollingDirect::new()?,
        ));
        #[cfg(selectio_epoll)]
        backend::<selectio::backends::Epoll>(&mut all, Some("raw-epoll"));
        #[cfg(selectio_kqueue)]
        backend::<selectio::backends::Kqueue>(&mut all, None);
        #[cfg(selectio_polling)]
        backend::<selectio::backends::Polling>(&mut all, Some("polling-direct"));
        #[cfg(selectio_poll)]
        backend::<selectio::backends::Poll>(&mut all, Some("raw-poll"));
        Ok(all)
    }

    fn reference(name: &'static str, ops: impl Ops + 'static) -> Contender {
        let ops = Box::new(ops);
        Contender {
            name,
            role: Role::Reference,
            ops,
        }
    }

    /// Adds backend `S` compared with `reference`; a backend that cannot start is skipped.
    fn backend<S: Selector>(all: &mut Vec<Contender>, reference: Option<&'static str>) {
        let started = S::new().and_then(|sel| {
            let events = Events::with_capacity(CAPACITY)?;
            Ok(Backend { sel, events })
        });
        match started {
            Ok(ops) => all.push(Contender {
                name: ops.sel.name(),
                role: Role::Backend(reference),
                ops: Box::new(ops),
            }),
            Err(err) => eprintln!("skipping {}: {err}", std::any::type_name::<S>()),
        }
    }

    /// A backend, driven through the `Selector` trait only.
    struct Backend<S: Selector> {
        sel: S,
        events: Events<S>,
    }

    impl<S: Selector> Ops for Backend<S> {
        fn pingpong(&mut self, pipe: &Pipe, n: u64) -> io::Result<Timing> {
            let fd = pipe.rx.as_fd();
            self.sel
                .register(fd, Token(PIPE), Interest::READABLE, Mode::Level)?;
            let (sel, events) = (&self.sel, &mut self.events);
            let elapsed = timed(n, || {
                pipe.send()?;
                loop {
                    sel.select(events, None)?;
                    if events
                        .iter()
                        .any(|e| e.token() == Token(PIPE) && e.is_readable())
                    {
                        return pipe.recv();
                    }
                }
            });
            self.sel.deregister(fd)?;
            elapsed
        }

        fn churn(&mut self, fds: &[ChurnFd<'_>], n: u64) -> io::Result<Timing> {
            let sel = &self.sel;
            timed(n, || {
                for (i, (fd, interest)) in fds.iter().enumerate() {
                    sel.register(fd.as_fd(), Token(i), *interest, Mode::Level)?;
                }
                fds.iter()
                    .try_for_each(|(fd, _)| sel.deregister(fd.as_fd()))
            })
        }

        fn select_zero(&mut self, n: u64) -> io::Result<Timing> {
            let (sel, events) = (&self.sel, &mut self.events);
            timed(n, || sel.select(events, Some(Duration::ZERO)))
        }
    }

    /// The wall-clock time and the thread's CPU time (user + system) of one timed run.
    #[derive(Clone, Copy, Default)]
    struct Timing {
        wall: Duration,
        cpu: Duration,
    }

    /// Runs `op` `n` times and returns the time taken.
    fn timed(n: u64, mut op: impl FnMut() -> io::Result<()>) -> io::Result<Timing> {
        let cpu = thread_cpu_time()?;
        let start = Instant::now();
        for _ in 0..n {
            op()?;
        }
        let wall = start.elapsed();
        let cpu = thread_cpu_time()?.saturating_sub(cpu);
        Ok(Timing { wall, cpu })
    }

    // ---------------------------------------------------------------- reference loops

    /// The hand-written epoll(7) loop.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    mod raw_epoll {
        use std::os::fd::{FromRawFd, OwnedFd};

        use super::*;

        /// An epoll fd with an idle pipe registered (as the epoll backend registers its
        /// waker), and an event array preallocated at the backends' capacity.
        pub(super) struct RawEpoll {
            ep: OwnedFd,
            events: Vec<libc::epoll_event>,
            _idle: Pipe,
        }

        impl RawEpoll {
            pub(super) fn new() -> io::Result<RawEpoll> {
                // SAFETY: plain system call; `owned` checks the result and owns the new fd.
                let ep = owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
                let idle = Pipe::new()?;
                let events = vec![libc::epoll_event { events: 0, u64: 0 }; CAPACITY];
                let raw = RawEpoll {
                    ep,
                    events,
                    _idle: idle,
                };
                raw.ctl(
                    libc::EPOLL_CTL_ADD,
                    raw._idle.rx.as_raw_fd(),
                    libc::EPOLLIN,
                    IDLE,
                )?;
                Ok(raw)
            }

            fn ctl(
                &self,
                op: libc::c_int,
                fd: RawFd,
                flags: libc::c_int,
                token: usize,
            ) -> io::Result<()> {
                let mut ev = libc::epoll_event {
                    events: flags as u32,
                    u64: token as u64,
                };
                // SAFETY: `ev` is a valid epoll_event for the whole call; a bad fd is an error.
                cvt(unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), op, fd, &mut ev) }).map(drop)
            }

            /// epoll_wait into the preallocated array; the number of events stored.
            fn wait(&mut self, timeout_ms: libc::c_int) -> io::Result<usize> {
                let (ptr, cap) = (self.events.as_mut_ptr(), self.events.len() as libc::c_int);
                // SAFETY: `ptr` points to `cap` initialised epoll_events owned by `self`,
                // and the kernel writes at most `cap` of them.
                let n =
                    cvt(unsafe { libc::epoll_wait(self.ep.as_raw_fd(), ptr, cap, timeout_ms) })?;
                Ok(n as usize)
            }

            /// Whether the first `n` events hold the pipe's readability.
            fn pipe_readable(&self, n: usize) -> bool {
                let want = PIPE as u64;
                self.events[..n]
                    .iter()
                    .any(|ev| ev.u64 == want && ev.events & libc::EPOLLIN as u32 != 0)
            }
        }

        fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
            let fd = cvt(fd)?;
            // SAFETY: `fd` was just returned by the kernel as a new descriptor nobody owns.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }

        impl Ops for RawEpoll {
            fn pingpong(&mut self, pipe: &Pipe, n: u64) -> io::Result<Timing> {
                let fd = pipe.rx.as_raw_fd();
                // The same flags as the epoll backend's Level READABLE registration.
                self.ctl(
                    libc::EPOLL_CTL_ADD,
                    fd,
                    libc::EPOLLIN | libc::EPOLLRDHUP,
                    PIPE,
                )?;
                let elapsed = timed(n, || {
                    pipe.send()?;
                    loop {
                        let ready = self.wait(-1)?;
                        if self.pipe_readable(ready) {
                            return pipe.recv();
                        }
                    }
                });
                self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)?;
                elapsed
            }

            fn churn(&mut self, fds: &[ChurnFd<'_>], n: u64) -> io::Result<Timing> {
                timed(n, || {
                    for (i, (fd, interest)) in fds.iter().enumerate() {
                        let flags = if interest.is_readable() {
                            libc::EPOLLIN | libc::EPOLLRDHUP
                        } else {
                            libc::EPOLLOUT
                        };
                        self.ctl(libc::EPOLL_CTL_ADD, fd.as_raw_fd(), flags, i)?;
                    }
                    fds.iter()
                        .try_for_each(|(fd, _)| self.ctl(libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, 0))
                })
            }

            fn select_zero(&mut self, n: u64) -> io::Result<Timing> {
                timed(n, || self.wait(0).map(drop))
            }
        }
    }

    /// The hand-written poll(2) loop.
    mod raw_poll {
        use super::*;

        /// What the poll backend asks for a readable registration: `POLLRDHUP` too where
        /// Linux has it (poll(2): "since Linux 2.6.17").
        #[cfg(any(target_os = "linux", target_os = "android"))]
        const READ: libc::c_short = libc::POLLIN | libc::POLLRDHUP;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        const READ: libc::c_short = libc::POLLIN;

        /// A preallocated pollfd array with an idle pipe. The poll backend keeps its waker
        /// after the registrations (Linux's do_poll adds no wait-queue entry for the fds
        /// after a ready one), so in the ping-pong the idle pipe moves last here too: both
        /// poll the same two fds in the same order, and the work compared is the same.
        pub(super) struct RawPoll {
            fds: Vec<libc::pollfd>,
            tokens: Vec<usize>,
            /// Churn bookkeeping: the slot of each fd, indexed by fd number.
            slot_of_fd: Vec<usize>,
            _idle: Pipe,
        }

        impl RawPoll {
            pub(super) fn new() -> io::Result<RawPoll> {
                let idle = Pipe::new()?;
                let mut raw = RawPoll {
                    fds: Vec::with_capacity(CAPACITY),
                    tokens: Vec::with_capacity(CAPACITY),
                    slot_of_fd: Vec::new(),
                    _idle: idle,
                };
                raw.push(raw._idle.rx.as_raw_fd(), libc::POLLIN, IDLE);
                Ok(raw)
            }

            fn push(&mut self, fd: RawFd, events: libc::c_short, token: usize) {
                self.fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
                self.tokens.push(token);
            }

            /// Drops every entry but the idle slot 0.
            fn reset(&mut self) {
                self.fds.truncate(1);
                self.tokens.truncate(1);
            }

            fn poll(&mut self, timeout_ms: libc::c_int) -> io::Result<usize> {
                let (ptr, len) = (self.fds.as_mut_ptr(), self.fds.len() as libc::nfds_t);
                // SAFETY: `ptr` points to `len` initialised pollfds owned by `self`; the kernel
                // writes only their `revents`.
                let n = cvt(unsafe { libc::poll(ptr, len, timeout_ms) })?;
                Ok(n as usize)
            }

            /// Scans every entry, as a poll loop must, for the pipe's readability.
            fn pipe_readable(&self) -> bool {
                let mut entries = self.fds.iter().zip(&self.tokens);
                entries.any(|(p, &token)| token == PIPE && p.revents & libc::POLLIN != 0)
            }

            /// Unregisters `fd` in O(1): the last entry moves into its slot.
            fn remove(&mut self, fd: RawFd) {
                let slot = self.slot_of_fd[fd as usize];
                self.fds.swap_remove(slot);
                self.tokens.swap_remove(slot);
                if let Some(moved) = self.fds.get(slot) {
                    self.slot_of_fd[moved.fd as usize] = slot;
                }
            }
        }

        impl Ops for RawPoll {
            fn pingpong(&mut self, pipe: &Pipe, n: u64) -> io::Result<Timing> {
                self.push(pipe.rx.as_raw_fd(), READ, PIPE);
                self.fds.swap(0, 1);
                self.tokens.swap(0, 1);
                let elapsed = timed(n, || {
                    pipe.send()?;
                    loop {
                        self.poll(-1)?;
                        if self.pipe_readable() {
                            return pipe.recv();
                        }
                    }
                });
                self.fds.swap(0, 1);
                self.tokens.swap(0, 1);
                self.reset();
                elapsed
            }

            /// poll(2) has no kernel-side registration: what a hand-written loop does to
            /// register is push a pollfd on its array and remember the slot.
            fn churn(&mut self, fds: &[ChurnFd<'_>], n: u64) -> io::Result<Timing> {
                let max_fd = fds
                    .iter()
                    .map(|(fd, _)| fd.as_raw_fd() as usize)
                    .max()
                    .unwrap_or(0);
                self.slot_of_fd
                    .resize(self.slot_of_fd.len().max(max_fd + 1), 0);
                self.fds.reserve(fds.len());
                self.tokens.reserve(fds.len());
                timed(n, || {
                    for (i, (fd, interest)) in fds.iter().enumerate() {
                        let events = if interest.is_readable() {
                            READ
                        } else {
                            libc::POLLOUT
                        };
                        self.slot_of_fd[fd.as_raw_fd() as usize] = self.fds.len();
                        self.push(fd.as_raw_fd(), events, i);
                    }
                    fds.iter().for_each(|(fd, _)| self.remove(fd.as_raw_fd()));
                    Ok(())
                })
            }

            fn select_zero(&mut self, n: u64) -> io::Result<Timing> {
                self.reset();
                timed(n, || self.poll(0).map(drop))
            }
        }
    }

    /// The `polling` crate used directly: the reference of the polling backend.
    #[cfg(feature = "polling")]
    mod polling_direct {
        use std::num::NonZeroUsize;

        use polling::{Event, PollMode, Poller};

        use super::*;

        const EVENTS: NonZeroUsize = match NonZeroUsize::new(CAPACITY) {
            Some(n) => n,
            None => panic!("CAPACITY is not zero"),
        };

        pub(super) struct PollingDirect {
            poller: Poller,
            events: polling::Events,
        }

        impl PollingDirect {
            pub(super) fn new() -> io::Result<PollingDirect> {
                let poller = Poller::new()?;
                let events = polling::Events::with_capacity(EVENTS);
                Ok(PollingDirect { poller, events })
            }

            fn add(&self, fd: BorrowedFd<'_>, key: usize, interest: Interest) -> io::Result<()> {
                let event = match (interest.is_readable(), interest.is_writable()) {
                    (true, true) => Event::all(key),
                    (true, false) => Event::readable(key),
                    _ => Event::writable(key),
                };
                // SAFETY: polling asks that the source be deleted before it is closed. Every
                // caller deletes it before returning; on an error the bench stops, and this
                // poller is dropped before the pipes (see the declaration order in `main`).
                unsafe {
                    self.poller
                        .add_with_mode(fd.as_raw_fd(), event, PollMode::Level)
                }
            }
        }

        impl Ops for PollingDirect {
            fn pingpong(&mut self, pipe: &Pipe, n: u64) -> io::Result<Timing> {
                self.add(pipe.rx.as_fd(), PIPE, Interest::READABLE)?;
                let (poller, events) = (&self.poller, &mut self.events);
                let elapsed = timed(n, || {
                    pipe.send()?;
                    loop {
                        events.clear();
                        poller.wait(events, None)?;
                        if events.iter().any(|e| e.key == PIPE && e.readable) {
                            return pipe.recv();
                        }
                    }
                });
                self.poller.delete(pipe.rx.as_fd())?;
                elapsed
            }

            fn churn(&mut self, fds: &[ChurnFd<'_>], n: u64) -> io::Result<Timing> {
                timed(n, || {
                    for (i, (fd, interest)) in fds.iter().enumerate() {
                        self.add(*fd, i, *interest)?;
                    }
                    fds.iter().try_for_each(|(fd, _)| self.poller.delete(fd))
                })
            }

            fn select_zero(&mut self, n: u64) -> io::Result<Timing> {
                let (poller, events) = (&self.poller, &mut self.events);
                timed(n, || {
                    events.clear();
                    poller.wait(events, Some(Duration::ZERO)).map(drop)
                })
            }
        }
    }

    // ---------------------------------------------------------------- pipes and fds

    /// A pipe with both ends non-blocking that carries one byte at a time.
    struct Pipe {
        rx: PipeReader,
        tx: PipeWriter,
    }

    impl Pipe {
        fn new() -> io::Result<Pipe> {
            let (rx, tx) = std::io::pipe()?;
            set_nonblocking(rx.as_fd())?;
            set_nonblocking(tx.as_fd())?;
            Ok(Pipe { rx, tx })
        }

        fn send(&self) -> io::Result<()> {
            match (&self.tx).write(&[1])? {
                1 => Ok(()),
                _ => Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "pipe took no byte",
                )),
            }
        }

        fn recv(&self) -> io::Result<()> {
            match (&self.rx).read(&mut [0])? {
                1 => Ok(()),
                _ => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "pipe gave no byte",
                )),
            }
        }
    }

    /// An fd of the churn and the interest it is registered with.
    type ChurnFd<'a> = (BorrowedFd<'a>, Interest);

    /// `fds / 2` pipes for the churn, fewer if the fd limit is too low (with a message).
    fn churn_pipes(fds: usize, limit: libc::rlim_t) -> io::Result<Vec<(PipeReader, PipeWriter)>> {
        let allowed = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(HEADROOM);
        let fds = if allowed < fds {
            let fewer = allowed & !1;
            println!(
                "RLIMIT_NOFILE is {limit} (< {}): the churn uses {fewer} fds, not {fds}",
                fds + HEADROOM
            );
            fewer
        } else {
            fds
        };
        (0..fds / 2).map(|_| std::io::pipe()).collect()
    }

    /// Every churn fd: read ends registered readable, write ends writable.
    fn churn_fds(pipes: &[(PipeReader, PipeWriter)]) -> Vec<ChurnFd<'_>> {
        let ends = pipes.iter().flat_map(|(rx, tx)| {
            [
                (rx.as_fd(), Interest::READABLE),
                (tx.as_fd(), Interest::WRITABLE),
            ]
        });
        ends.collect()
    }

    fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
        // SAFETY: F_GETFL on an open fd (borrowed for the call); no pointer is passed.
        let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
        // SAFETY: F_SETFL on the same open fd; no pointer is passed.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })
            .map(drop)
    }

    /// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in force.
    fn raise_nofile_limit() -> io::Result<libc::rlim_t> {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit into `lim`, which outlives the call.
        cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
        if lim.rlim_cur >= lim.rlim_max {
            return Ok(lim.rlim_cur);
        }
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit from `raised`, which outlives the call.
        match cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) }) {
            Ok(_) => Ok(raised.rlim_cur),
            // macOS refuses a soft limit above OPEN_MAX (10,240) with EINVAL even when the
            // hard limit is RLIM_INFINITY (setrlimit(2), COMPATIBILITY): keep the old one,
            // and the churn shrinks to fit.
            Err(err) => {
                println!("cannot raise RLIMIT_NOFILE to {}: {err}", lim.rlim_max);
                Ok(lim.rlim_cur)
            }
        }
    }

    fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    // ---------------------------------------------------------------- part 1: criterion

    fn criterion_groups(
        c: &mut Criterion,
        all: &mut [Contender],
        pipe: &Pipe,
        churn: &[ChurnFd<'_>],
    ) {
        let mut group = c.benchmark_group("pingpong");
        group.throughput(Throughput::Elements(1));
        for k in all.iter_mut() {
            group.bench_function(k.name, |b| {
                b.iter_custom(|n| must(k.name, k.ops.pingpong(pipe, n)))
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("churn_{}_fds", churn.len()));
        // One iteration is 2 × len system calls (epoll), tens of ms: 10 samples of the same
        // iteration count keep the group short.
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(churn.len() as u64));
        for k in all.iter_mut() {
            group.bench_function(k.name, |b| {
                b.iter_custom(|n| must(k.name, k.ops.churn(churn, n)))
            });
        }
        group.finish();

        let mut group = c.benchmark_group("select_zero");
        for k in all.iter_mut() {
            group.bench_function(k.name, |b| {
                b.iter_custom(|n| must(k.name, k.ops.select_zero(n)))
            });
        }
        group.finish();
    }

    /// criterion's closures cannot return errors: a failed workload stops the bench.
    fn must(name: &str, result: io::Result<Timing>) -> Duration {
        result.unwrap_or_else(|err| panic!("{name}: {err}")).wall
    }

    // ---------------------------------------------------------------- part 2: paired table

    /// ns per ping-pong by each clock: one row per round, one column per contender.
    struct Rounds {
        cpu: Vec<Vec<f64>>,
        wall: Vec<Vec<f64>>,
    }

    fn paired_rounds(all: &mut [Contender], pipe: &Pipe, s: &Settings) -> io::Result<Rounds> {
        for k in all.iter_mut() {
            k.ops.pingpong(pipe, (s.pingpongs / 4).max(1))?; // warm-up, not recorded
        }
        let len = all.len();
        let chunk = (s.pingpongs / SLICES).max(1);
        let per_op = |t: Duration| t.as_nanos() as f64 / (chunk * SLICES) as f64;
        let mut rounds = Rounds {
            cpu: Vec::new(),
            wall: Vec::new(),
        };
        for round in 0..s.rounds {
            let mut total = vec![Timing::default(); len];
            // A round's ping-pongs run in slices, contender after contender, so a burst of
            // load from other processes hits every contender of the round alike; the
            // order rotates so each runs first and last as often as the others.
            for slice in 0..SLICES as usize {
                for i in (0..len).map(|k| (round + slice + k) % len) {
                    let t = all[i].ops.pingpong(pipe, chunk)?;
                    total[i].wall += t.wall;
                    total[i].cpu += t.cpu;
                }
            }
            rounds
                .cpu
                .push(total.iter().map(|t| per_op(t.cpu)).collect());
            rounds
                .wall
                .push(total.iter().map(|t| per_op(t.wall)).collect());
        }
        Ok(rounds)
    }

    fn print_table(all: &[Contender], rounds: &Rounds, s: &Settings) {
        let judged = if s.wall_clock {
            &rounds.wall
        } else {
            &rounds.cpu
        };
        let refs: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].role == Role::Reference)
            .collect();
        let mut header = vec![
            "contender".to_string(),
            "CPU ns/op median [min–max]".to_string(),
            "wall ns/op median [min–max]".to_string(),
        ];
        header.extend(
            refs.iter()
                .map(|&r| format!("÷ {} median [min–max]", all[r].name)),
        );
        header.push(format!("budget: ≤ {TARGET:.2} × reference (paired median)"));
        let mut rows = vec![header];
        for (i, k) in all.iter().enumerate() {
            let mut row = vec![
                k.name.to_string(),
                ns_cell(&rounds.cpu, i),
                ns_cell(&rounds.wall, i),
            ];
            for &r in &refs {
                row.push(if r == i {
                    "—".to_string()
                } else {
                    ratio_cell(judged, i, r).0
                });
            }
            row.push(budget_cell(all, judged, i));
            rows.push(row);
        }
        println!(
            "\n## Paired ping-pong ratios\n\nOne thread; a ping-pong writes 1 byte into a \
             non-blocking pipe, waits for readability (Level, capacity {CAPACITY}) and reads \
             it back. {} rounds × {} ping-pongs per contender{}, run in {SLICES} interleaved \
             slices in rotating order. A ratio is contender ns/op ÷ reference ns/op within \
             one round, by the {} clock{}.\n",
            s.rounds,
            (s.pingpongs / SLICES).max(1) * SLICES,
            match (s.quick, cfg!(debug_assertions)) {
                (_, true) => " (unoptimised build: a smoke test, not a measurement)",
                (true, false) => " (quick run)",
                (false, false) => "",
            },
            if s.wall_clock { "wall" } else { "thread CPU" },
            if s.wall_clock {
                ""
            } else {
                " (user + system time of this thread: the workload never blocks, so this is \
                 its cost without the time other processes take the CPU away; \
                 SELECTIO_BENCH_CLOCK=wall judges by wall time)"
            },
        );
        print!("{}", crate::table::table(&rows));
    }

    /// "median [min–max]" of contender `i`'s ns/op over the rounds.
    fn ns_cell(rounds: &[Vec<f64>], i: usize) -> String {
        let (med, min, max) = stats(rounds.iter().map(|r| r[i]).collect());
        format!("{med:.0} [{min:.0}–{max:.0}]")
    }

    /// "median [min–max]" of the per-round ratio of contender `i` to contender `r`.
    fn ratio_cell(rounds: &[Vec<f64>], i: usize, r: usize) -> (String, f64) {
        let (med, min, max) = stats(rounds.iter().map(|row| row[i] / row[r]).collect());
        (format!("{med:.3} [{min:.3}–{max:.3}]"), med)
    }

    fn budget_cell(all: &[Contender], rounds: &[Vec<f64>], i: usize) -> String {
        let reference = match all[i].role {
            Role::Reference => return "reference".to_string(),
            Role::Backend(None) => return "— (no reference loop for it here)".to_string(),
            Role::Backend(Some(name)) => name,
        };
        match all.iter().position(|k| k.name == reference) {
            Some(r) => {
                let (_, med) = ratio_cell(rounds, i, r);
                let verdict = if med <= TARGET { "met" } else { "MISSED" };
                format!("{verdict}: {med:.3} × {reference}")
            }
            None => format!("— ({reference} not built)"),
        }
    }
}
