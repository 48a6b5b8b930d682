//! Timer store benchmark: selectio's `TimerWheel` beside a `BTreeMap<(Instant, u64), T>`
//! queue doing the same work, in the same run.
//!
//! Two workloads over N timers (1,000,000 by default) whose delays are spread over 10 s:
//! - **insert + cancel**: insert all N, then cancel all N in a shuffled order;
//! - **insert + fire**: insert all N, then move the clock forward 1 ms at a time to the
//!   end, taking every due timer out (`advance` + `pop_due` / `pop_first`).
//!
//! Each round builds every store from empty (the map cannot be kept warm, so neither is
//! the wheel) and runs the contenders in an order that rotates between rounds. A phase's
//! ns/op is its wall-clock time divided by N; the ratio is the map's ns/op over the
//! wheel's in the same round. The table shows the median and the min–max over the rounds.
//! The wheel runs twice: with the `EventLoop`'s default 1,024 slots (10,000 ticks of
//! delay span ~10 revolutions: most timers wait in level 1 and move down once) and with
//! 16,384 slots (everything fits one revolution).
//!
//! ```sh
//! cargo bench --bench timers                          # 1M timers, 7 rounds, ~30 s
//! SELECTIO_BENCH_QUICK=1 cargo bench --bench timers   # 50k timers, 3 rounds, seconds
//! ```
//! Environment: `SELECTIO_BENCH_TIMERS` (N), `SELECTIO_BENCH_ROUNDS`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use selectio::{Timeout, TimerWheel};

mod common;
use common::{env_number, summary};

const TICK: Duration = Duration::from_millis(1);
/// Delays are spread over this many ticks (10 s).
const SPAN_TICKS: u64 = 10_000;
/// The budget: the wheel at least this many times faster per op than the map.
const TARGET: f64 = 2.0;

fn main() -> io::Result<()> {
    let settings = Settings::from_env()?;
    let work = Work::new(settings.timers);
    let mut contenders: Vec<Box<dyn Store>> = vec![
        Box::new(Wheel::new(1024, "TimerWheel (1,024 slots)")),
        Box::new(Wheel::new(16_384, "TimerWheel (16,384 slots)")),
        Box::<Map>::default(),
    ];
    let mut samples = vec![Samples::default(); contenders.len()];
    for round in 0..settings.rounds {
        let n = contenders.len();
        for k in 0..n {
            let i = (round + k) % n;
            samples[i].push(measure(contenders[i].as_mut(), &work));
        }
    }
    print_table(&contenders, &samples, &settings);
    print_reset_table(&work, &settings);
    Ok(())
}

/// The idle-timeout pattern: every one of N pending timers pushed back once (its
/// connection read something), by `reset` or by `cancel` + `insert`, on the same wheel
/// state. Returns ns per push-back of each, in the order (reset, cancel + insert).
fn measure_reset(work: &Work, reset_first: bool) -> (f64, f64) {
    let n = work.delays.len();
    let wheel_with_all = || {
        let mut store = Wheel::new(1024, "");
        store.reset(work);
        store.insert_all(work);
        (store.wheel.expect("reset"), store.handles)
    };
    let later = work.origin + TICK;
    let by_reset = || {
        let (mut wheel, handles) = wheel_with_all();
        let t = Instant::now();
        for &i in &work.cancel_order {
            black_box(wheel.reset(&handles[i], later, work.delays[i]));
        }
        per_op(t.elapsed(), n)
    };
    let by_cancel_insert = || {
        let (mut wheel, mut handles) = wheel_with_all();
        let t = Instant::now();
        for &i in &work.cancel_order {
            black_box(wheel.cancel(&handles[i]));
            handles[i] = wheel
                .insert(later, work.delays[i], i as u64)
                .expect("capacity");
        }
        per_op(t.elapsed(), n)
    };
    if reset_first {
        let r = by_reset();
        (r, by_cancel_insert())
    } else {
        let c = by_cancel_insert();
        (by_reset(), c)
    }
}

fn print_reset_table(work: &Work, s: &Settings) {
    let rounds: Vec<(f64, f64)> = (0..s.rounds)
        .map(|round| measure_reset(work, round % 2 == 0))
        .collect();
    println!(
        "\n### Timer reset: {} pending timers each pushed back once (1,024 slots), {} rounds\n",
        s.timers, s.rounds
    );
    println!("| push-back | ns/op | (cancel + insert) ÷ reset, paired per round |");
    println!("|---|---|---|");
    let ratios = rounds.iter().map(|(r, c)| c / r).collect();
    println!(
        "| `reset` | {} | {} |",
        summary(rounds.iter().map(|r| r.0).collect(), 1),
        summary(ratios, 2)
    );
    println!(
        "| `cancel` + `insert` | {} | 1 (reference) |",
        summary(rounds.iter().map(|r| r.1).collect(), 1)
    );
}

struct Settings {
    timers: usize,
    rounds: usize,
    quick: bool,
}

impl Settings {
    fn from_env() -> io::Result<Settings> {
        let quick = common::quick();
        let timers =
            env_number("SELECTIO_BENCH_TIMERS")?.unwrap_or(if quick { 50_000 } else { 1_000_000 });
        let rounds = env_number("SELECTIO_BENCH_ROUNDS")?.unwrap_or(if quick { 3 } else { 7 });
        Ok(Settings {
            timers: timers.max(1),
            rounds: rounds.max(1),
            quick,
        })
    }
}

/// The same delays and cancel order for every contender.
struct Work {
    origin: Instant,
    delays: Vec<Duration>,
    cancel_order: Vec<usize>,
}

impl Work {
    fn new(n: usize) -> Work {
        let mut rng = Lcg(0x5e1e_c710);
        let span_ns = SPAN_TICKS * TICK.as_nanos() as u64;
        let delays = (0..n)
            .map(|_| Duration::from_nanos(rng.next() % span_ns))
            .collect();
        let mut cancel_order: Vec<usize> = (0..n).collect();
        // Fisher–Yates with the same generator: a fixed shuffle.
        for i in (1..n).rev() {
            cancel_order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        Work {
            origin: Instant::now(),
            delays,
            cancel_order,
        }
    }
}

/// A small deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 16
    }
}

/// One round of one contender: ns per timer of each phase.
#[derive(Clone, Copy, Debug)]
struct Round {
    insert_cancel: (f64, f64),
    insert_fire: (f64, f64),
}

/// A timer store under test. Each method is one timed phase; [`measure`] times them.
trait Store {
    fn name(&self) -> &'static str;
    /// Empties the store for a new phase.
    fn reset(&mut self, work: &Work);
    /// Inserts every timer of `work`, in order.
    fn insert_all(&mut self, work: &Work);
    /// Cancels every timer in `work.cancel_order`; the store is then empty.
    fn cancel_all(&mut self, work: &Work);
    /// Advances tick by tick past the last deadline, popping what is due; how many fired.
    fn fire_all(&mut self, work: &Work) -> usize;
    /// Frees what the store holds, so that the next contender runs without it.
    fn release(&mut self);
}

/// Both workloads from an empty store; (insert, cancel) and (insert, fire) ns/op.
fn measure(store: &mut dyn Store, work: &Work) -> Round {
    let n = work.delays.len();
    let timed = |store: &mut dyn Store, phase: fn(&mut dyn Store, &Work)| {
        let t = Instant::now();
        phase(store, work);
        per_op(t.elapsed(), n)
    };
    store.reset(work);
    let insert = timed(store, |s, w| s.insert_all(w));
    let cancel = timed(store, |s, w| s.cancel_all(w));
    store.reset(work);
    let insert2 = timed(store, |s, w| s.insert_all(w));
    let t = Instant::now();
    let fired = store.fire_all(work);
    let fire = per_op(t.elapsed(), n);
    assert_eq!(fired, n);
    store.release();
    Round {
        insert_cancel: (insert, cancel),
        insert_fire: (insert2, fire),
    }
}

fn per_op(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

struct Wheel {
    slots: usize,
    name: &'static str,
    wheel: Option<TimerWheel<u64>>,
    handles: Vec<Timeout>,
}

impl Wheel {
    fn new(slots: usize, name: &'static str) -> Wheel {
        Wheel {
            slots,
            name,
            wheel: None,
            handles: Vec::new(),
        }
    }
}

impl Store for Wheel {
    fn name(&self) -> &'static str {
        self.name
    }

    fn reset(&mut self, work: &Work) {
        // The old wheel is dropped outside the timed phases.
        self.wheel = Some(TimerWheel::new(
            work.origin,
            TICK,
            self.slots,
            work.delays.len() + 1,
        ));
        self.handles.clear();
        self.handles.reserve(work.delays.len());
    }

    fn insert_all(&mut self, work: &Work) {
        let wheel = self.wheel.as_mut().expect("reset first");
        for (i, &after) in work.delays.iter().enumerate() {
            let handle = wheel
                .insert(work.origin, after, i as u64)
                .expect("capacity");
            self.handles.push(handle);
        }
    }

    fn cancel_all(&mut self, work: &Work) {
        let wheel = self.wheel.as_mut().expect("reset first");
        for &i in &work.cancel_order {
            black_box(wheel.cancel(&self.handles[i]));
        }
        assert!(wheel.is_empty());
    }

    fn fire_all(&mut self, work: &Work) -> usize {
        let wheel = self.wheel.as_mut().expect("reset first");
        let mut fired = 0;
        for tick in 1..=SPAN_TICKS + 1 {
            wheel.advance(work.origin + TICK * tick as u32);
            while let Some(v) = wheel.pop_due() {
                black_box(v);
                fired += 1;
            }
        }
        fired
    }

    fn release(&mut self) {
        self.wheel = None;
        self.handles = Vec::new();
    }
}

/// The classic ordered queue: key (deadline, sequence number), the key is the handle.
#[derive(Default)]
struct Map {
    map: BTreeMap<(Instant, u64), u64>,
    keys: Vec<(Instant, u64)>,
}

impl Store for Map {
    fn name(&self) -> &'static str {
        "BTreeMap<(Instant, u64), T>"
    }

    fn reset(&mut self, work: &Work) {
        self.map.clear();
        self.keys.clear();
        self.keys.reserve(work.delays.len());
    }

    fn insert_all(&mut self, work: &Work) {
        for (i, &after) in work.delays.iter().enumerate() {
            let key = (work.origin + after, i as u64);
            self.map.insert(key, i as u64);
            self.keys.push(key);
        }
    }

    fn cancel_all(&mut self, work: &Work) {
        for &i in &work.cancel_order {
            black_box(self.map.remove(&self.keys[i]).is_some());
        }
        assert!(self.map.is_empty());
    }

    fn fire_all(&mut self, work: &Work) -> usize {
        let mut fired = 0;
        for tick in 1..=SPAN_TICKS + 1 {
            let now = work.origin + TICK * tick as u32;
            while let Some(entry) = self.map.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                black_box(entry.remove());
                fired += 1;
            }
        }
        fired
    }

    fn release(&mut self) {
        self.map = BTreeMap::new();
        self.keys = Vec::new();
    }
}

#[derive(Clone, Default)]
struct Samples(Vec<Round>);

impl Samples {
    fn push(&mut self, r: Round) {
        self.0.push(r);
    }
}

fn print_table(contenders: &[Box<dyn Store>], samples: &[Samples], s: &Settings) {
    let map = samples.len() - 1;
    println!(
        "\n### Timers: {} timers over {} s, {} rounds{}\n",
        s.timers,
        SPAN_TICKS / 1000,
        s.rounds,
        if s.quick { " (quick)" } else { "" }
    );
    println!("| workload | store | insert ns/op | cancel or fire ns/op | total ns/op | map ÷ store (total) |");
    println!("|---|---|---|---|---|---|");
    type Pick = fn(&Round) -> (f64, f64);
    let workloads: [(&str, Pick); 2] = [
        ("insert + cancel", |r| r.insert_cancel),
        ("insert + fire", |r| r.insert_fire),
    ];
    for (workload, pick) in workloads {
        for (i, c) in contenders.iter().enumerate() {
            let rounds = &samples[i].0;
            let total = |r: &Round| pick(r).0 + pick(r).1;
            let ratios: Vec<f64> = rounds
                .iter()
                .zip(&samples[map].0)
                .map(|(r, m)| total(m) / total(r))
                .collect();
            println!(
                "| {workload} | {} | {} | {} | {} | {} |",
                c.name(),
                summary(rounds.iter().map(|r| pick(r).0).collect(), 1),
                summary(rounds.iter().map(|r| pick(r).1).collect(), 1),
                summary(rounds.iter().map(total).collect(), 1),
                if i == map {
                    "1 (reference)".to_string()
                } else {
                    summary(ratios, 2)
                },
            );
        }
    }
    println!(
        "\nTarget: the wheel at least {TARGET}× faster per op than the map at 1M timers \
         (median of the per-round ratios, last column)."
    );
}
