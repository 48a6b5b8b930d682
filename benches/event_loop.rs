//! EventLoop overhead: a one-byte ping-pong through `EventLoop<H, Epoll>`, through the bare
//! `Epoll` selector, and through a hand-written epoll loop, side by side in one run.
//!
//! The ping-pong is single-threaded and the same for all three: one byte sits in a pipe;
//! the contender waits (level-triggered, no timeout) until the pipe's read end is
//! readable, reads the byte, and writes it back into the pipe — `epoll_wait`, `read`,
//! `write` per round trip, nothing else. Each contender has its own pipe, made the same way.
//!
//! R rounds (default 15): in each, every contender runs the same number of ping-pongs in
//! 10 slices interleaved with the others', in an order that rotates between rounds; the
//! ratios compare contenders *within* a round and the table shows their median and
//! min–max. Times are the thread's CPU time (the ping-pong never blocks, so that is its
//! whole cost, minus what other processes on a shared machine take); wall-clock ns/op
//! is shown beside it.
//!
//! ```sh
//! cargo bench --bench event_loop                          # ~10 s
//! SELECTIO_BENCH_QUICK=1 cargo bench --bench event_loop   # a second or two
//! ```
//! Environment: `SELECTIO_BENCH_ROUNDS`, `SELECTIO_BENCH_PINGPONGS` (per contender and
//! round, default 100,000).
//!
//! Benches are not library code: the reference loop calls epoll itself and the CPU clock
//! is `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, both through libc, hence the `unsafe`
//! below (each block says why it is sound).
#![allow(unsafe_code)]

mod common;

#[cfg(selectio_epoll)]
fn main() {
    common::exit_on_error("event_loop", linux::main());
}

#[cfg(not(selectio_epoll))]
fn main() {
    println!("event_loop bench: compares against raw epoll, so it needs the epoll backend (Linux, feature `epoll`); skipped");
}

#[cfg(selectio_epoll)]
mod linux {
    use std::io::{self, PipeReader, PipeWriter, Read, Write};
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
    use std::time::{Duration, Instant};

    use selectio::backends::Epoll;
    use selectio::{EventLoop, Events, Handler, Interest, Mode, Ready, Selector, Token};

    use crate::common::{env_number, summary, thread_cpu_time};

    const PIPE: Token = Token(7);
    /// Events per wait, in every contender.
    const CAPACITY: usize = 64;
    const SLICES: u64 = 10;
    /// The budget of DESIGN.md: the EventLoop within 3% of a hand-written epoll loop.
    const TARGET: f64 = 1.03;

    pub(crate) fn main() -> io::Result<()> {
        let s = Settings::from_env()?;
        let mut all: Vec<Box<dyn Contender>> = vec![
            Box::new(RawEpoll::new()?),
            Box::new(BareEpoll::new()?),
            Box::new(Looped::new()?),
        ];
        // Warm-up: page in, fill caches, settle the CPU frequency.
        for c in &mut all {
            c.pingpong(s.pingpongs / 10 + 1)?;
        }
        let mut rounds = Vec::new();
        for round in 0..s.rounds {
            rounds.push(one_round(&mut all, round, &s)?);
        }
        print_table(&all, &rounds, &s);
        Ok(())
    }

    struct Settings {
        rounds: usize,
        pingpongs: u64,
        quick: bool,
    }

    impl Settings {
        fn from_env() -> io::Result<Settings> {
            let quick = crate::common::quick();
            let rounds = env_number("SELECTIO_BENCH_ROUNDS")?.unwrap_or(if quick { 3 } else { 15 });
            let pingpongs = env_number("SELECTIO_BENCH_PINGPONGS")?.unwrap_or(if quick {
                5_000
            } else {
                100_000
            });
            Ok(Settings {
                rounds: rounds.max(1),
                pingpongs: pingpongs.max(SLICES),
                quick,
            })
        }
    }

    /// CPU and wall time of one contender in one round.
    #[derive(Clone, Copy, Default)]
    struct Timing {
        cpu: Duration,
        wall: Duration,
    }

    fn one_round(
        all: &mut [Box<dyn Contender>],
        round: usize,
        s: &Settings,
    ) -> io::Result<Vec<Timing>> {
        let n = all.len();
        let mut times = vec![Timing::default(); n];
        let per_slice = s.pingpongs / SLICES;
        for _ in 0..SLICES {
            for k in 0..n {
                let i = (round + k) % n;
                let (cpu, wall) = (thread_cpu_time()?, Instant::now());
                all[i].pingpong(per_slice)?;
                times[i].wall += wall.elapsed();
                times[i].cpu += thread_cpu_time()? - cpu;
            }
        }
        Ok(times)
    }

    trait Contender {
        fn name(&self) -> &'static str;
        /// `n` round trips; the byte is written before the first wait.
        fn pingpong(&mut self, n: u64) -> io::Result<()>;
    }

    /// One pipe per contender.
    struct Pipe {
        reader: PipeReader,
        writer: PipeWriter,
    }

    impl Pipe {
        fn new() -> io::Result<Pipe> {
            let (reader, writer) = io::pipe()?;
            Ok(Pipe { reader, writer })
        }

        /// Reads the byte; writes it back unless this was the last round trip.
        fn bounce(&mut self, left: &mut u64) -> io::Result<()> {
            let mut byte = [0u8; 1];
            self.reader.read_exact(&mut byte)?;
            *left -= 1;
            if *left > 0 {
                self.writer.write_all(&byte)?;
            }
            Ok(())
        }
    }

    // ---------------------------------------------------------------- raw epoll

    /// The reference: epoll_create1 / epoll_ctl / epoll_wait by hand.
    struct RawEpoll {
        ep: OwnedFd,
        pipe: Pipe,
        events: Vec<libc::epoll_event>,
        /// Stands in for the backend's registered (idle) waker, so both watch two fds.
        _idle: Pipe,
    }

    impl RawEpoll {
        fn new() -> io::Result<RawEpoll> {
            // SAFETY: plain system call; the result is checked before use.
            let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` is a new descriptor that nothing else owns.
            let ep = unsafe { OwnedFd::from_raw_fd(fd) };
            let (pipe, idle) = (Pipe::new()?, Pipe::new()?);
            add(&ep, pipe.reader.as_raw_fd(), PIPE.0 as u64)?;
            add(&ep, idle.reader.as_raw_fd(), u64::MAX)?;
            let events = vec![libc::epoll_event { events: 0, u64: 0 }; CAPACITY];
            Ok(RawEpoll {
                ep,
                pipe,
                events,
                _idle: idle,
            })
        }

        fn wait(&mut self) -> io::Result<usize> {
            loop {
                // SAFETY: `events` holds CAPACITY writable entries.
                let n = unsafe {
                    libc::epoll_wait(
                        self.ep.as_raw_fd(),
                        self.events.as_mut_ptr(),
                        CAPACITY as libc::c_int,
                        -1,
                    )
                };
                if n >= 0 {
                    return Ok(n as usize);
                }
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }

    fn add(ep: &OwnedFd, fd: libc::c_int, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: data,
        };
        // SAFETY: `ev` is valid for the call; both fds are open.
        if unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    impl Contender for RawEpoll {
        fn name(&self) -> &'static str {
            "raw epoll (libc)"
        }

        fn pingpong(&mut self, mut left: u64) -> io::Result<()> {
            self.pipe.writer.write_all(b"x")?;
            while left > 0 {
                let n = self.wait()?;
                for i in 0..n {
                    // A copy: `epoll_event` is packed on x86_64.
                    let data = { self.events[i].u64 };
                    if data == PIPE.0 as u64 {
                        self.pipe.bounce(&mut left)?;
                    }
                }
            }
            Ok(())
        }
    }

    // ---------------------------------------------------------------- bare selector

    /// selectio's `Epoll` through the `Selector` trait, no EventLoop.
    struct BareEpoll {
        selector: Epoll,
        events: Events<Epoll>,
        pipe: Pipe,
    }

    impl BareEpoll {
        fn new() -> io::Result<BareEpoll> {
            let selector = Epoll::new()?;
            let pipe = Pipe::new()?;
            selector.register(pipe.reader.as_fd(), PIPE, Interest::READABLE, Mode::Level)?;
            Ok(BareEpoll {
                selector,
                events: Events::with_capacity(CAPACITY)?,
                pipe,
            })
        }
    }

    impl Contender for BareEpoll {
        fn name(&self) -> &'static str {
            "Epoll selector (bare)"
        }

        fn pingpong(&mut self, mut left: u64) -> io::Result<()> {
            self.pipe.writer.write_all(b"x")?;
            while left > 0 {
                self.selector.select(&mut self.events, None)?;
                for event in self.events.iter() {
                    if event.token() == PIPE {
                        self.pipe.bounce(&mut left)?;
                    }
                }
            }
            Ok(())
        }
    }

    // ---------------------------------------------------------------- EventLoop

    /// The handler: bounce the byte; shut down after the last round trip.
    struct Bouncer {
        pipe: Pipe,
        left: u64,
        error: Option<io::Error>,
    }

    impl Handler<Epoll> for Bouncer {
        type Timeout = ();
        type Message = ();

        fn ready(&mut self, el: &mut EventLoop<Self, Epoll>, token: Token, _: Ready) {
            if token != PIPE {
                return;
            }
            if let Err(e) = self.pipe.bounce(&mut self.left) {
                self.error = Some(e);
            }
            if self.left == 0 || self.error.is_some() {
                el.shutdown();
            }
        }
    }

    struct Looped {
        el: EventLoop<Bouncer, Epoll>,
        handler: Bouncer,
    }

    impl Looped {
        fn new() -> io::Result<Looped> {
            let mut el = EventLoop::builder().events_capacity(CAPACITY).build()?;
            let pipe = Pipe::new()?;
            el.register(&pipe.reader, PIPE, Interest::READABLE, Mode::Level)?;
            let handler = Bouncer {
                pipe,
                left: 0,
                error: None,
            };
            Ok(Looped { el, handler })
        }
    }

    impl Contender for Looped {
        fn name(&self) -> &'static str {
            "EventLoop<H, Epoll>"
        }

        fn pingpong(&mut self, n: u64) -> io::Result<()> {
            self.handler.left = n;
            self.handler.pipe.writer.write_all(b"x")?;
            self.el.run(&mut self.handler)?;
            self.handler.error.take().map_or(Ok(()), Err)
        }
    }

    impl Drop for Looped {
        fn drop(&mut self) {
            // Leave the loop empty, as every user should.
            let _ = self.el.deregister(&self.handler.pipe.reader);
        }
    }

    // ---------------------------------------------------------------- table

    fn print_table(all: &[Box<dyn Contender>], rounds: &[Vec<Timing>], s: &Settings) {
        let ns = |d: Duration| d.as_nanos() as f64 / s.pingpongs as f64;
        println!(
            "\n### One-byte ping-pong, {} round trips × {} rounds per contender{}\n",
            s.pingpongs,
            s.rounds,
            if s.quick { " (quick)" } else { "" }
        );
        println!("| contender | CPU ns/op | wall ns/op | ÷ raw epoll (CPU) | ÷ bare Epoll (CPU) |");
        println!("|---|---|---|---|---|");
        for (i, c) in all.iter().enumerate() {
            let cpu: Vec<f64> = rounds.iter().map(|r| ns(r[i].cpu)).collect();
            let wall: Vec<f64> = rounds.iter().map(|r| ns(r[i].wall)).collect();
            let ratio = |j: usize| -> String {
                if i == j {
                    return "1".into();
                }
                summary(
                    rounds.iter().map(|r| ns(r[i].cpu) / ns(r[j].cpu)).collect(),
                    3,
                )
            };
            println!(
                "| {} | {} | {} | {} | {} |",
                c.name(),
                summary(cpu, 0),
                summary(wall, 0),
                ratio(0),
                ratio(1)
            );
        }
        println!(
            "\nMedian [min–max] over rounds; ratios are paired within each round. \
             Target: EventLoop ÷ raw epoll ≤ {TARGET}."
        );
    }
}
