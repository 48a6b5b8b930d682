//! How precisely each backend waits out a timeout with no event: the lowest and median
//! time a `select(Some(t))` on an idle pipe takes, for t = 100 µs, 1 ms and 3.1 ms, beside
//! the `polling` crate used directly and an `EventLoop` timer of `t` (tick 10 µs) on each
//! backend, in one run.
//!
//! Each round asks every contender once per timeout, in an order that rotates between
//! rounds, so drift of the machine spreads over all of them. Nothing here is asserted:
//! the tests check only "never early"; this shows how late.
//!
//! ```sh
//! cargo bench --bench timeouts --features polling        # 300 rounds, ~10 s
//! SELECTIO_BENCH_ROUNDS=50 cargo bench --bench timeouts  # quicker
//! ```

mod common;

#[cfg(not(unix))]
fn main() {
    println!("timeouts: Unix only (it waits on an idle pipe)");
}

#[cfg(unix)]
fn main() -> std::io::Result<()> {
    unix::main()
}

#[cfg(unix)]
mod unix {
    use std::io::{self, Write};
    use std::time::{Duration, Instant};

    use selectio::{Events, Interest, Mode, Selector, Source, Token};

    const TIMEOUTS: [Duration; 3] = [
        Duration::from_micros(100),
        Duration::from_millis(1),
        Duration::from_micros(3_100),
    ];

    /// One way of waiting `t` with nothing ready.
    trait Contender {
        fn name(&self) -> String;
        fn wait(&mut self, t: Duration) -> io::Result<()>;
    }

    /// A selectio backend with an idle pipe registered.
    struct Backend<S: Selector> {
        selector: S,
        events: Events<S>,
        _pipe: (selectio::pipe::PipeReader, selectio::pipe::PipeWriter),
    }

    impl<S: Selector> Backend<S> {
        fn new() -> io::Result<Backend<S>> {
            let selector = S::new()?;
            let pipe = selectio::pipe::pipe()?;
            let token = Token(1);
            selector.register(pipe.0.source(), token, Interest::READABLE, Mode::Level)?;
            Ok(Backend {
                selector,
                events: Events::with_capacity(64)?,
                _pipe: pipe,
            })
        }
    }

    impl<S: Selector> Contender for Backend<S> {
        fn name(&self) -> String {
            format!("selectio {}", self.selector.name())
        }
        fn wait(&mut self, t: Duration) -> io::Result<()> {
            self.selector.select(&mut self.events, Some(t))
        }
    }

    /// An `EventLoop` timer of `t` with a 10 µs tick (the finest), run until it fires.
    struct LoopTimer<S: Selector> {
        el: selectio::EventLoop<Fired, S>,
        fired: Fired,
    }

    /// The handler: notes that the timer fired.
    #[derive(Debug, Default)]
    struct Fired(bool);

    impl<S: Selector> selectio::Handler<S> for Fired {
        type Timeout = ();
        type Message = ();
        fn timeout(&mut self, _: &mut selectio::EventLoop<Self, S>, _: ()) {
            self.0 = true;
        }
    }

    impl<S: Selector> LoopTimer<S> {
        fn new() -> io::Result<LoopTimer<S>> {
            let el = selectio::EventLoop::builder()
                .timer_tick(Duration::from_micros(10))
                .build()?;
            Ok(LoopTimer {
                el,
                fired: Fired(false),
            })
        }
    }

    impl<S: Selector> Contender for LoopTimer<S> {
        fn name(&self) -> String {
            format!("EventLoop timer, {}", self.el.selector().name())
        }
        fn wait(&mut self, t: Duration) -> io::Result<()> {
            self.el.timeout((), t)?;
            self.fired.0 = false;
            while !self.fired.0 {
                self.el.run_once(&mut self.fired, None)?;
            }
            Ok(())
        }
    }

    /// `polling::Poller` used directly, with the same idle pipe.
    struct PollingDirect {
        poller: polling::Poller,
        events: polling::Events,
        pipe: (selectio::pipe::PipeReader, selectio::pipe::PipeWriter),
    }

    impl PollingDirect {
        fn new() -> io::Result<PollingDirect> {
            let poller = polling::Poller::new()?;
            let pipe = selectio::pipe::pipe()?;
            // SAFETY: the pipe lives in the struct beside the poller and is deleted in `drop`.
            #[allow(unsafe_code)]
            unsafe {
                poller.add(&pipe.0, polling::Event::readable(1))?
            };
            Ok(PollingDirect {
                poller,
                events: polling::Events::new(),
                pipe,
            })
        }
    }

    impl Drop for PollingDirect {
        fn drop(&mut self) {
            let _ = self.poller.delete(&self.pipe.0);
        }
    }

    impl Contender for PollingDirect {
        fn name(&self) -> String {
            "polling used directly".to_string()
        }
        fn wait(&mut self, t: Duration) -> io::Result<()> {
            self.events.clear();
            self.poller.wait(&mut self.events, Some(t)).map(drop)
        }
    }

    /// Adds backend `S`: its bare `select` to `selects`, its `EventLoop` timer to `timers`.
    fn add<S: Selector>(
        selects: &mut Vec<Box<dyn Contender>>,
        timers: &mut Vec<Box<dyn Contender>>,
    ) -> io::Result<()> {
        selects.push(Box::new(Backend::<S>::new()?));
        timers.push(Box::new(LoopTimer::<S>::new()?));
        Ok(())
    }

    pub(crate) fn main() -> io::Result<()> {
        let rounds: usize = crate::common::env_number("SELECTIO_BENCH_ROUNDS")?.unwrap_or(300);
        // Each backend's bare select, then each backend's EventLoop timer.
        let mut selects: Vec<Box<dyn Contender>> = vec![Box::new(PollingDirect::new()?)];
        let mut timers: Vec<Box<dyn Contender>> = Vec::new();
        #[cfg(selectio_epoll)]
        add::<selectio::backends::Epoll>(&mut selects, &mut timers)?;
        #[cfg(selectio_kqueue)]
        add::<selectio::backends::Kqueue>(&mut selects, &mut timers)?;
        #[cfg(selectio_poll)]
        add::<selectio::backends::Poll>(&mut selects, &mut timers)?;
        #[cfg(selectio_polling)]
        add::<selectio::backends::Polling>(&mut selects, &mut timers)?;
        let mut contenders = selects;
        contenders.append(&mut timers);
        // samples[contender][timeout] = the waits, in µs.
        let mut samples = vec![vec![Vec::with_capacity(rounds); TIMEOUTS.len()]; contenders.len()];
        for round in 0..rounds {
            for k in 0..contenders.len() {
                let c = (k + round) % contenders.len();
                for (i, &t) in TIMEOUTS.iter().enumerate() {
                    let start = Instant::now();
                    contenders[c].wait(t)?;
                    samples[c][i].push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
        }
        let mut out = io::stdout().lock();
        writeln!(
            out,
            "Idle select(Some(t)) wait, µs: lowest / median of {rounds} (never below t)\n"
        )?;
        write!(out, "| {:<24} |", "contender")?;
        for t in TIMEOUTS {
            write!(out, " {:>21} |", format!("t = {t:?}"))?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "|{}|{}",
            "-".repeat(26),
            "-----------------------|".repeat(3)
        )?;
        for (c, contender) in contenders.iter().enumerate() {
            write!(out, "| {:<24} |", contender.name())?;
            for waits in &mut samples[c] {
                let (median, low, _) = crate::common::stats(std::mem::take(waits));
                write!(out, " {:>21} |", format!("{low:.0} / {median:.0}"))?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}
