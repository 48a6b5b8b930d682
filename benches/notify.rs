//! Notify channel throughput: messages per second through `Sender::send` →
//! `Handler::notify`, and wake syscalls per message, with 1 and 4 sending threads.
//!
//! The loop runs on the main thread over `CountingSelector<DefaultSelector>` (the tests' wrapper,
//! which counts `wake()` calls — each one is an eventfd write — and `select` calls); the
//! senders start together at a barrier and retry on `Full`. Three workloads:
//! - **1 sender / 4 senders, burst**: N messages in all as fast as they go; the loop
//!   sleeps only when it has drained the queue, so wakes coalesce.
//! - **1 sender, lock-step**: the sender waits until the loop has handled each message
//!   before sending the next — every message finds the loop asleep: the uncoalesced cost.
//!
//! Rounds (default 7) run the workloads in an order that rotates; the table shows
//! median [min–max] over rounds. Nothing is pinned: the senders and the loop share the
//! machine's cores, as real senders would.
//!
//! ```sh
//! cargo bench --bench notify                          # a few seconds
//! SELECTIO_BENCH_QUICK=1 cargo bench --bench notify   # a second or two
//! ```
//! Environment: `SELECTIO_BENCH_MESSAGES` (burst N, default 1,000,000; lock-step uses
//! N / 50), `SELECTIO_BENCH_ROUNDS`.

mod common;
#[path = "../tests/util/evloop.rs"]
mod evloop_util;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{env_number, summary};
use evloop_util::CountingSelector;
use selectio::DefaultSelector;
use selectio::{EventLoop, Handler, Sender};

type Sel = CountingSelector<DefaultSelector>;

fn main() -> io::Result<()> {
    let s = Settings::from_env()?;
    let workloads = [
        Workload::burst(1, s.messages),
        Workload::burst(4, s.messages),
        Workload::lock_step(s.messages / 50),
    ];
    let mut results = vec![Vec::new(); workloads.len()];
    for round in 0..s.rounds {
        for k in 0..workloads.len() {
            let i = (round + k) % workloads.len();
            results[i].push(workloads[i].run()?);
        }
    }
    print_table(&workloads, &results, &s);
    Ok(())
}

struct Settings {
    messages: u64,
    rounds: usize,
    quick: bool,
}

impl Settings {
    fn from_env() -> io::Result<Settings> {
        let quick = common::quick();
        let messages = env_number("SELECTIO_BENCH_MESSAGES")?.unwrap_or(if quick {
            50_000
        } else {
            1_000_000
        });
        let rounds = env_number("SELECTIO_BENCH_ROUNDS")?.unwrap_or(if quick { 3 } else { 7 });
        Ok(Settings {
            messages: messages.max(200),
            rounds: rounds.max(1),
            quick,
        })
    }
}

/// Counts messages; acknowledges each for the lock-step sender; stops at `total`.
struct Sink {
    received: u64,
    total: u64,
    acked: Arc<AtomicU64>,
}

impl Handler<Sel> for Sink {
    type Timeout = ();
    type Message = u64;

    fn notify(&mut self, el: &mut EventLoop<Self, Sel>, msg: u64) {
        std::hint::black_box(msg);
        self.received += 1;
        self.acked.store(self.received, Ordering::Release);
        if self.received == self.total {
            el.shutdown();
        }
    }
}

#[derive(Clone, Copy)]
struct Measured {
    elapsed: Duration,
    messages: u64,
    wakes: usize,
    selects: usize,
}

struct Workload {
    name: &'static str,
    threads: u64,
    messages: u64,
    lock_step: bool,
}

impl Workload {
    fn burst(threads: u64, messages: u64) -> Workload {
        let name = if threads == 1 {
            "1 sender, burst"
        } else {
            "4 senders, burst"
        };
        Workload {
            name,
            threads,
            messages: messages / threads * threads,
            lock_step: false,
        }
    }

    fn lock_step(messages: u64) -> Workload {
        Workload {
            name: "1 sender, lock-step",
            threads: 1,
            messages,
            lock_step: true,
        }
    }

    fn run(&self) -> io::Result<Measured> {
        let mut el: EventLoop<Sink, Sel> = EventLoop::new()?;
        let acked = Arc::new(AtomicU64::new(0));
        let mut sink = Sink {
            received: 0,
            total: self.messages,
            acked: acked.clone(),
        };
        let barrier = Arc::new(Barrier::new(self.threads as usize + 1));
        let per_thread = self.messages / self.threads;
        let senders: Vec<_> = (0..self.threads)
            .map(|_| {
                let (tx, barrier, acked) = (el.channel(), barrier.clone(), acked.clone());
                let lock_step = self.lock_step;
                thread::spawn(move || {
                    barrier.wait();
                    send_all(&tx, per_thread, lock_step.then_some(&*acked));
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        el.run(&mut sink)?;
        let elapsed = start.elapsed();
        for s in senders {
            s.join()
                .map_err(|_| io::Error::other("a sender panicked"))?;
        }
        Ok(Measured {
            elapsed,
            messages: sink.received,
            wakes: el.selector().wakes(),
            selects: el.selector().selects(),
        })
    }
}

/// Sends `n` messages, retrying on `Full`; in lock-step waits for each to be handled.
fn send_all(tx: &Sender<u64>, n: u64, lock_step: Option<&AtomicU64>) {
    for i in 0..n {
        if let Err(e) = evloop_util::send_when_room(tx, i) {
            panic!("send: {e}");
        }
        if let Some(acked) = lock_step {
            while acked.load(Ordering::Acquire) <= i {
                std::hint::spin_loop();
            }
        }
    }
}

fn print_table(workloads: &[Workload], results: &[Vec<Measured>], s: &Settings) {
    println!(
        "\n### Notify channel, {} rounds{} (EventLoop over CountingSelector<DefaultSelector>)\n",
        s.rounds,
        if s.quick { " (quick)" } else { "" }
    );
    println!(
        "| workload | messages | messages/s (millions) | ns/message | wakes (total) \
         | wakes per 1,000 messages | selects per 1,000 messages |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (w, rs) in workloads.iter().zip(results) {
        let col =
            |f: &dyn Fn(&Measured) -> f64, digits| summary(rs.iter().map(f).collect(), digits);
        let per_k = |n: usize, m: &Measured| n as f64 * 1000.0 / m.messages as f64;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            w.name,
            w.messages,
            col(&|m| m.messages as f64 / m.elapsed.as_secs_f64() / 1e6, 2),
            col(&|m| m.elapsed.as_nanos() as f64 / m.messages as f64, 0),
            col(&|m| m.wakes as f64, 0),
            col(&|m| per_k(m.wakes, m), 3),
            col(&|m| per_k(m.selects, m), 2),
        );
    }
    println!("\nA wake is one `Selector::wake` call (an eventfd write on epoll).");
}
