//! Timers through the `EventLoop` on every backend (order, clearing, re-arming, never
//! early, overflow), and `TimerWheel` cases its unit tests do not cover, against a model.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::util::evloop::*;
use selectio::{EventLoop, Timeout, TimerError, TimerWheel};

const MS: Duration = Duration::from_millis(1);
/// A generous bound on lateness: debug builds on 2 shared cores.
const LATE: Duration = Duration::from_secs(1);

/// Sets timer `id` to fire `after` from now; returns the earliest instant it may fire.
fn arm<S: TestSelector>(el: &mut El<'_, S>, id: u64, after: Duration) -> (Timeout, Instant) {
    let before = Instant::now();
    let t = el.timeout(id, after).unwrap();
    (t, before + after)
}

#[track_caller]
fn assert_on_time(fired: Instant, deadline: Instant, slack: Duration) {
    assert!(fired >= deadline, "fired {:?} early", deadline - fired);
    assert!(
        fired <= deadline + slack,
        "fired {:?} late",
        fired - deadline
    );
}

/// Runs the loop until timer `last` fires; returns what the run recorded.
fn run_until_timer<'a, S: TestSelector>(el: &mut El<'a, S>, last: u64) -> Recorder<'a, S> {
    let mut h = Recorder::new().on_timeout(move |el, _, id| {
        if id == last {
            el.shutdown();
        }
    });
    el.run(&mut h).unwrap();
    h
}

/// Asserts the timers fired in the order `ids`, each on time for its `deadline`.
#[track_caller]
fn assert_fired_in_order_on_time(log: &Log, ids: &[u64], deadline: impl Fn(u64) -> Instant) {
    assert_eq!(log.timeout_ids(), ids);
    for (_, at, id) in log.timeouts() {
        assert_on_time(at, deadline(id), LATE);
    }
}

fn timers_fire_in_deadline_order<S: TestSelector>() {
    let mut el: El<S> = EventLoop::new().unwrap();
    let mut deadlines = BTreeMap::new();
    // 30 and 31 share a delay; 31 is set later, so its deadline is later.
    for (id, ms) in [(50, 5), (10, 1), (30, 3), (31, 3), (20, 2)] {
        deadlines.insert(id, arm(&mut el, id, ms * MS).1);
    }
    let h = run_until_timer(&mut el, 50);
    assert_fired_in_order_on_time(&h.log, &[10, 20, 30, 31, 50], |id| deadlines[&id]);
    assert_nothing_registered(&el);
}

fn cleared_timer_never_fires<S: TestSelector>() {
    let mut el: El<S> = EventLoop::new().unwrap();
    let (a, _) = arm(&mut el, 1, MS);
    let (b, _) = arm(&mut el, 2, 2 * MS);
    arm(&mut el, 3, 3 * MS);
    assert!(el.clear_timeout(&a));
    assert!(!el.clear_timeout(&a), "a second clear finds nothing");
    let h = run_until_timer(&mut el, 3);
    assert_eq!(h.log.timeout_ids(), [2, 3]);
    assert!(!el.clear_timeout(&b), "a fired timer cannot be cleared");
    assert_nothing_registered(&el);
}

fn clear_from_inside_another_timers_callback<S: TestSelector>() {
    let handles = RefCell::new(Vec::new());
    let cleared = Cell::new(0);
    let mut el: El<S> = EventLoop::new().unwrap();
    // Set within microseconds: most share a tick, so they are collected together and
    // the first callback clears timers already taken out of the wheel.
    for id in 0..10 {
        handles.borrow_mut().push(arm(&mut el, id, MS).0);
    }
    arm(&mut el, 99, 3 * MS);
    let mut h = Recorder::new().on_timeout(|el, _, id| {
        if id == 0 {
            for t in &handles.borrow()[1..] {
                cleared.set(cleared.get() + usize::from(el.clear_timeout(t)));
            }
        } else if id == 99 {
            el.shutdown();
        }
    });
    el.run(&mut h).unwrap();
    assert_eq!(cleared.get(), 9);
    assert_eq!(h.log.timeout_ids(), [0, 99]);
    assert_nothing_registered(&el);
}

fn rearm_inside_timeout_fires_in_a_later_iteration<S: TestSelector>() {
    let mut el: El<S> = EventLoop::new().unwrap();
    el.timeout(0, Duration::ZERO).unwrap();
    let mut h = Recorder::new().on_timeout(|el, _, id| {
        if id < 5 {
            el.timeout(id + 1, Duration::ZERO).unwrap();
        } else {
            el.shutdown();
        }
    });
    el.run(&mut h).unwrap();
    let fired = h.log.timeouts();
    assert_eq!(h.log.timeout_ids(), [0, 1, 2, 3, 4, 5]);
    for w in fired.windows(2) {
        assert!(
            w[1].0 > w[0].0,
            "re-armed timer fired in the same iteration: {w:?}"
        );
    }
    assert_nothing_registered(&el);
}

/// The idle-timeout pattern: a timer reset on every "read" (here, on every tick of a
/// 2 ms heartbeat timer) never fires while resets keep coming, keeps its handle, and
/// fires its reset delay after the last reset, never earlier.
fn reset_timeout_pushes_the_deadline_back<S: TestSelector>() {
    const IDLE: u64 = 1;
    const BEAT: u64 = 2;
    let beats = Cell::new(0);
    let last_reset = Cell::new(Instant::now());
    let idle = Cell::new(None);
    let mut el: El<S> = EventLoop::new().unwrap();
    idle.set(Some(arm(&mut el, IDLE, 20 * MS).0));
    el.timeout(BEAT, 2 * MS).unwrap();
    let mut h = Recorder::new().on_timeout(|el, _, id| match id {
        BEAT if beats.get() < 30 => {
            beats.set(beats.get() + 1);
            let before = Instant::now();
            let idle = idle.get().expect("armed");
            assert!(
                el.reset_timeout(&idle, 20 * MS),
                "the idle timer is pending"
            );
            last_reset.set(before);
            el.timeout(BEAT, 2 * MS).unwrap();
        }
        IDLE => el.shutdown(),
        _ => {}
    });
    el.run(&mut h).unwrap();
    assert_eq!(beats.get(), 30, "the idle timer fired while being reset");
    let (_, fired, _) = *h.log.timeouts().last().unwrap();
    assert_on_time(fired, last_reset.get() + 20 * MS, LATE);
    let idle = idle.get().expect("armed");
    assert!(
        !el.reset_timeout(&idle, MS),
        "a fired timer cannot be reset"
    );
    assert!(!el.clear_timeout(&idle));
    assert_nothing_registered(&el);
}

fn thousand_short_timers_are_never_early<S: TestSelector>() {
    const N: u64 = 1000;
    let mut el: El<S> = EventLoop::new().unwrap();
    let deadlines: Vec<Instant> = (0..N)
        .map(|id| arm(&mut el, id, Duration::from_micros(id * 37 % 3000)).1)
        .collect();
    let mut h = Recorder::new().on_timeout(|el, log, _| {
        if log.timeouts().len() as u64 == N {
            el.shutdown();
        }
    });
    el.run(&mut h).unwrap();
    let mut seen = vec![false; N as usize];
    for (_, at, id) in h.log.timeouts() {
        assert!(
            !std::mem::replace(&mut seen[id as usize], true),
            "{id} fired twice"
        );
        assert_on_time(at, deadlines[id as usize], LATE);
    }
    assert!(seen.iter().all(|s| *s));
    assert_nothing_registered(&el);
}

fn timer_capacity_overflow_is_an_error<S: TestSelector>() {
    let mut el: El<S> = EventLoop::builder().timer_capacity(2).build().unwrap();
    el.timeout(1, MS).unwrap();
    let b = el.timeout(2, MS).unwrap();
    assert_eq!(el.timeout(3, MS), Err(TimerError::Overflow));
    // A cleared timer frees its place.
    assert!(el.clear_timeout(&b));
    el.timeout(3, 2 * MS).unwrap();
    assert_eq!(el.timeout(4, MS), Err(TimerError::Overflow));
    let h = run_until_timer(&mut el, 3);
    assert_eq!(h.log.timeout_ids(), [1, 3]);
    // Fired timers free theirs.
    let c = el.timeout(5, MS).unwrap();
    let d = el.timeout(6, MS).unwrap();
    assert!(el.clear_timeout(&c) && el.clear_timeout(&d));
    assert_nothing_registered(&el);
}

fn timers_beyond_one_wheel_revolution_never_fire_early<S: TestSelector>() {
    let mut el: El<S> = EventLoop::builder()
        .timer_wheel_slots(4)
        .timer_tick(MS)
        .build()
        .unwrap();
    // 3, 7, 11 share a slot of the 4-slot wheel; 25 is six revolutions away.
    let ids = [3u64, 7, 11, 25, 2];
    let deadlines: BTreeMap<u64, Instant> = ids
        .iter()
        .map(|&id| (id, arm(&mut el, id, Duration::from_millis(id)).1))
        .collect();
    let h = run_until_timer(&mut el, 25);
    assert_fired_in_order_on_time(&h.log, &[2, 3, 7, 11, 25], |id| deadlines[&id]);
    assert_nothing_registered(&el);
}

fn loop_sleeps_until_the_next_timer<S: TestSelector>() {
    let mut el: El<S> = EventLoop::new().unwrap();
    let (_, deadline) = arm(&mut el, 1, 30 * MS);
    let mut h = Recorder::new().on_timeout(|el, _, _| el.shutdown());
    el.run(&mut h).unwrap();
    assert_on_time(h.log.timeouts()[0].1, deadline, LATE);
    // A spinning loop would make thousands of iterations in 30 ms.
    assert!(h.log.iteration <= 10, "{} iterations", h.log.iteration);
    assert_nothing_registered(&el);
}

fn timers_fire_while_io_keeps_the_loop_busy<S: TestSelector>() {
    let (a, _a1) = readable_pair();
    let mut el: El<S> = loop_reading(&[(&a, T1)]);
    // 50 ms: room for several iterations even where the first select is slow (Wine under
    // load, say).
    let (_, deadline) = arm(&mut el, 1, 50 * MS);
    let mut h = Recorder::new().on_timeout(|el, _, _| el.shutdown());
    el.run(&mut h).unwrap();
    assert_on_time(h.log.timeouts()[0].1, deadline, LATE);
    let calls = &h.log.calls;
    assert!(
        h.log.readies().len() > 1,
        "{:?}",
        &calls[..calls.len().min(8)]
    );
    deregister_all_and_assert_empty(&mut el, [&a]);
}

fn coarse_tick_is_never_early<S: TestSelector>() {
    let mut el: El<S> = EventLoop::builder().timer_tick(10 * MS).build().unwrap();
    let deadlines = [arm(&mut el, 0, MS).1, arm(&mut el, 1, 15 * MS).1];
    let h = run_until_timer(&mut el, 1);
    assert_fired_in_order_on_time(&h.log, &[0, 1], |id| deadlines[id as usize]);
    assert_nothing_registered(&el);
}

fn huge_delay_is_accepted_and_does_not_block_other_work<S: TestSelector>() {
    let mut el: El<S> = EventLoop::new().unwrap();
    let t = el.timeout(1, Duration::MAX).unwrap();
    el.channel().send(5).unwrap();
    let mut h = Recorder::new();
    el.run_once(&mut h, Some(Duration::from_secs(5))).unwrap();
    el.run_once(&mut h, Some(MS)).unwrap();
    assert_eq!(h.log.messages(), [5]);
    assert!(h.log.timeouts().is_empty());
    assert!(el.clear_timeout(&t));
    assert_nothing_registered(&el);
}

/// A loop whose selector counts its `select` calls.
type Counted<'a, S> = El<'a, CountingSelector<S>>;

/// Sets one timer `after` from now on a loop with `tick` and `slots` and runs the loop
/// until it fires: never early, at most a tick late (plus [`LATE`]). Returns how many
/// times the loop selected, and how long it waited.
#[track_caller]
fn fire_one<S: TestSelector>(tick: Duration, slots: usize, after: Duration) -> (usize, Duration) {
    let mut el: Counted<S> = EventLoop::builder()
        .timer_tick(tick)
        .timer_wheel_slots(slots)
        .build()
        .unwrap();
    let (_, deadline) = arm(&mut el, 1, after);
    let start = Instant::now();
    let give_up = deadline + tick + LATE;
    let mut h = Recorder::new();
    while h.log.timeouts().is_empty() && Instant::now() < give_up {
        let left = give_up.saturating_duration_since(Instant::now());
        el.run_once(&mut h, Some(left)).unwrap();
    }
    assert_eq!(h.log.timeout_ids(), [1], "tick {tick:?}, {slots} slots");
    assert_on_time(h.log.timeouts()[0].1, deadline, tick + LATE);
    assert_nothing_registered(&el);
    (el.selector().selects(), start.elapsed())
}

fn millisecond_tick_fires_on_time_without_spinning<S: TestSelector>() {
    let (selects, _) = fire_one::<S>(MS, 1024, 100 * MS);
    // The loop sleeps until the timer's tick: a spinning one selects thousands of times.
    assert!(selects <= 10, "{selects} selects");
}

/// A sub-millisecond tick: a 300 µs timer never fires early, and the loop sleeps until it
/// (with 100 µs ticks, a spinning loop would select thousands of times in the bound).
fn sub_millisecond_tick_is_never_early_without_spinning<S: TestSelector>() {
    let tick = Duration::from_micros(100);
    let (selects, _) = fire_one::<S>(tick, 1024, Duration::from_micros(300));
    assert!(selects <= 10, "{selects} selects");
    // Beyond the revolution (1024 × 100 µs): at most one wake per revolution.
    let (selects, waited) = fire_one::<S>(tick, 1024, 300 * MS);
    let revolutions = (waited.as_micros() / (1024 * tick).as_micros()) as usize;
    assert!(
        selects <= 2 * revolutions + 10,
        "{selects} selects in {revolutions} revolutions"
    );
}

/// A wheel whose revolution (slots × tick) is under a millisecond is refused: a far timer
/// would wake the loop every revolution, over a thousand times a second.
fn revolution_under_a_millisecond_is_invalid_input<S: TestSelector>() {
    let us = Duration::from_micros;
    for (tick, slots) in [(us(10), 1), (us(10), 64), (us(100), 8), (us(999), 1)] {
        let err = EventLoop::<Recorder<'_, S>, S>::builder()
            .timer_tick(tick)
            .timer_wheel_slots(slots)
            .build()
            .unwrap_err();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::InvalidInput,
            "{tick:?} × {slots}"
        );
        assert!(err.to_string().contains("revolution"), "{err}");
    }
    for (tick, slots) in [(us(10), 100), (us(100), 10), (MS, 1), (us(10), usize::MAX)] {
        let built = EventLoop::<Recorder<'_, S>, S>::builder()
            .timer_tick(tick)
            .timer_wheel_slots(slots)
            .build();
        match built {
            Ok(_) => {}
            // Refused for its size (at most 2^20 slots), never for its revolution.
            Err(e) => assert!(e.to_string().contains("slots must be"), "{e}"),
        }
    }
}

fn one_slot_wheel_wakes_at_most_once_per_tick<S: TestSelector>() {
    // One slot: a revolution is one tick, so the loop wakes every tick until the timer's.
    let (selects, waited) = fire_one::<S>(MS, 1, 100 * MS);
    let ticks = (waited.as_micros() / MS.as_micros()) as usize;
    assert!(
        selects <= 2 * ticks + 10,
        "{selects} selects in {ticks} ticks"
    );
}

fn coarsest_tick_is_never_early_and_the_loop_sleeps<S: TestSelector>() {
    let tick = Duration::from_secs(3600);
    let mut el: Counted<S> = EventLoop::builder().timer_tick(tick).build().unwrap();
    let (_, deadline) = arm(&mut el, 1, 10 * MS);
    let mut h = Recorder::new();
    for _ in 0..3 {
        el.run_once(&mut h, Some(50 * MS)).unwrap();
    }
    // It fires on the hour's boundary at the latest; whenever it does, never early.
    for (_, at, _) in h.log.timeouts() {
        assert_on_time(at, deadline, tick + LATE);
    }
    let selects = el.selector().selects();
    assert!(selects <= 6, "{selects} selects in 3 iterations");
    assert_nothing_registered(&el);
}

fn timer_tick_outside_its_bounds_is_invalid_input_naming_them<S: TestSelector>() {
    let finest = Duration::from_micros(10);
    let bad = [
        Duration::ZERO,
        Duration::from_nanos(1),
        finest - Duration::from_nanos(1),
        Duration::from_secs(3600) + Duration::from_nanos(1),
        Duration::MAX,
    ];
    for tick in bad {
        let err = EventLoop::<Recorder<'_, S>, S>::builder()
            .timer_tick(tick)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{tick:?}");
        let msg = err.to_string();
        for part in ["timer tick", "10µs", "3600s", &format!("not {tick:?}")] {
            assert!(msg.contains(part), "{tick:?}: {msg:?} lacks {part:?}");
        }
    }
    for tick in [finest, MS, Duration::from_secs(3600)] {
        EventLoop::<Recorder<'_, S>, S>::builder()
            .timer_tick(tick)
            .build()
            .unwrap();
    }
}

macro_rules! all_tests {
    ($sel:ty, $new:expr) => {
        backend_tests!($sel;
            millisecond_tick_fires_on_time_without_spinning,
            sub_millisecond_tick_is_never_early_without_spinning,
            revolution_under_a_millisecond_is_invalid_input,
            one_slot_wheel_wakes_at_most_once_per_tick,
            coarsest_tick_is_never_early_and_the_loop_sleeps,
            timer_tick_outside_its_bounds_is_invalid_input_naming_them,
            timers_fire_in_deadline_order,
            cleared_timer_never_fires,
            clear_from_inside_another_timers_callback,
            rearm_inside_timeout_fires_in_a_later_iteration,
            reset_timeout_pushes_the_deadline_back,
            thousand_short_timers_are_never_early,
            timer_capacity_overflow_is_an_error,
            timers_beyond_one_wheel_revolution_never_fire_early,
            loop_sleeps_until_the_next_timer,
            timers_fire_while_io_keeps_the_loop_busy,
            coarse_tick_is_never_early,
            huge_delay_is_accepted_and_does_not_block_other_work,
        );
    };
}

each_backend!(all_tests);

/// The largest wheel (2^20 slots per level) is accepted and behaves; one more slot is
/// refused. The wheel does not depend on the backend: the default one runs it.
#[test]
fn largest_wheel_fires_on_time_without_spinning() {
    let (selects, _) = fire_one::<selectio::DefaultSelector>(MS, 1 << 20, 100 * MS);
    assert!(selects <= 10, "{selects} selects");
    let err = EventLoop::<Recorder<'_, selectio::DefaultSelector>>::builder()
        .timer_wheel_slots((1 << 20) + 1)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("2^20"), "{err}");
}

// ---- `TimerWheel` on its own (public API), cases beyond its unit tests ----

fn wheel(slots: usize, capacity: usize) -> (Instant, TimerWheel<u64>) {
    let t0 = Instant::now();
    (t0, TimerWheel::new(t0, MS, slots, capacity))
}

fn fire(w: &mut TimerWheel<u64>, at: Instant) -> Vec<u64> {
    w.advance(at);
    std::iter::from_fn(|| w.pop_due()).collect()
}

#[test]
fn wheel_cancelled_due_timer_whose_slot_is_reused_does_not_fire_the_new_one() {
    let (t0, mut w) = wheel(8, 16);
    w.insert(t0, MS, 1).unwrap();
    let b = w.insert(t0, MS, 2).unwrap();
    let now = t0 + 2 * MS;
    w.advance(now);
    assert_eq!(w.pop_due(), Some(1));
    assert!(w.cancel(&b));
    // The new timer takes b's storage while b is still listed as due.
    let c = w.insert(now, Duration::ZERO, 3).unwrap();
    assert_eq!(w.pop_due(), None);
    assert!(!w.cancel(&b), "the old handle must not reach the new timer");
    assert_eq!(fire(&mut w, now + MS), [3]);
    assert!(!w.cancel(&c));
    assert!(w.is_empty());
}

#[test]
fn wheel_advance_to_an_earlier_time_does_nothing() {
    let (t0, mut w) = wheel(8, 16);
    w.insert(t0, 5 * MS, 1).unwrap();
    assert_eq!(fire(&mut w, t0 + 10 * MS), [1]);
    w.insert(t0 + 10 * MS, 5 * MS, 2).unwrap();
    assert!(fire(&mut w, t0 + 3 * MS).is_empty());
    assert!(fire(&mut w, t0 + 14 * MS).is_empty());
    assert_eq!(fire(&mut w, t0 + 15 * MS), [2]);
}

#[test]
fn wheel_long_idle_gap_fires_everything_once_in_order() {
    let (t0, mut w) = wheel(8, 16);
    for ms in [1000u64, 17, 1, 9, 8, 16] {
        w.insert(t0, Duration::from_millis(ms), ms).unwrap();
    }
    assert_eq!(
        fire(&mut w, t0 + Duration::from_secs(10)),
        [1, 8, 9, 16, 17, 1000]
    );
    assert!(fire(&mut w, t0 + Duration::from_secs(20)).is_empty());
    assert!(w.is_empty());
}

#[test]
fn wheel_next_timeout_after_cancels() {
    let (t0, mut w) = wheel(8, 16);
    let a = w.insert(t0, 2 * MS, 1).unwrap();
    assert!(w.cancel(&a));
    assert_eq!(w.next_timeout(t0), None);
    let b = w.insert(t0, 2 * MS, 2).unwrap();
    w.insert(t0, 20 * MS, 3).unwrap();
    assert!(w.cancel(&b));
    // A lower bound: never later than the remaining timer.
    let left = w.next_timeout(t0).unwrap();
    assert!(left <= 20 * MS, "{left:?}");
    assert_eq!(fire(&mut w, t0 + 20 * MS), [3]);
    assert_eq!(w.next_timeout(t0 + 20 * MS), None);
}

#[test]
fn wheel_full_capacity_then_reuse_many_times() {
    let (t0, mut w) = wheel(4, 3);
    let mut now = t0;
    for round in 0..1000u64 {
        let hs: Vec<Timeout> = (0..3)
            .map(|i| w.insert(now, MS, round * 3 + i).unwrap())
            .collect();
        assert_eq!(w.insert(now, MS, 0), Err(TimerError::Overflow));
        assert!(w.cancel(&hs[1]));
        now += MS;
        assert_eq!(fire(&mut w, now), [round * 3, round * 3 + 2]);
        assert!(hs.iter().all(|h| !w.cancel(h)));
    }
}

/// A small deterministic generator for the model test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn wheel_agrees_with_a_sorted_map_model() {
    const TICK: u64 = 1_000_000;
    let t0 = Instant::now();
    let mut w: TimerWheel<u64> = TimerWheel::new(t0, MS, 16, 10_000);
    // id → (deadline ns, handle); the model of what is pending.
    let mut pending: BTreeMap<u64, (u64, Timeout)> = BTreeMap::new();
    let mut rng = Lcg(7);
    let (mut now, mut next_id) = (0u64, 0u64);
    for _ in 0..20_000 {
        match rng.next(10) {
            0..=4 => {
                let after = rng.next(40 * TICK);
                let h = w.insert(
                    t0 + Duration::from_nanos(now),
                    Duration::from_nanos(after),
                    next_id,
                );
                pending.insert(next_id, (now + after, h.unwrap()));
                next_id += 1;
            }
            5 | 6 if !pending.is_empty() => {
                let id = *pending
                    .keys()
                    .nth(rng.next(pending.len() as u64) as usize)
                    .unwrap();
                assert!(w.cancel(&pending.remove(&id).unwrap().1));
            }
            _ => {
                now += rng.next(3 * TICK);
                let fired = fire(&mut w, t0 + Duration::from_nanos(now));
                let mut last = (0, 0);
                for id in fired {
                    let (deadline, _) = pending.remove(&id).expect("fired once, not cancelled");
                    assert!(deadline <= now, "{id} early");
                    assert!((deadline, id) >= last, "out of order");
                    last = (deadline, id);
                }
                // At most one tick late: everything a tick past its deadline has fired.
                assert!(pending.values().all(|(d, _)| d + TICK > now));
            }
        }
        assert_eq!(w.len(), pending.len());
    }
}
