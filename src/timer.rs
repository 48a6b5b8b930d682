//! `TimerWheel`: a hashed timing wheel with O(1) insert and cancel, used by the
//! `EventLoop` for its timeouts; pure data structure, tested without any fd.
//!
//! # Implementation notes
//! - Time is counted in ticks of `tick` since the wheel's `origin`. A timer due at
//!   `deadline` goes to tick `ceil(deadline / tick)` and slot `tick % slots`; a slot holds
//!   a doubly linked list threaded through the slab, so insert and cancel are O(1).
//! - [`TimerWheel::advance`] visits the slots of every tick that has fully elapsed
//!   (`floor(now / tick)`), so a timer never fires early: `floor(now) >= ceil(deadline)`
//!   implies `now >= deadline`. Timers of a later revolution stay in their slot.
//! - Due timers are moved to a due list sorted by (exact deadline, insertion order), then
//!   handed out one by one by [`TimerWheel::pop_due`]; a timer cancelled after being
//!   collected but before being popped does not fire, and a timer inserted meanwhile
//!   waits for the next `advance`.
//! - The slab and the due list keep their memory: no allocation per timer once warm.

use std::fmt;
use std::time::{Duration, Instant};

/// A handle to a pending timer, for [`TimerWheel::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeout {
    index: u32,
    generation: u32,
}

/// Why a timer could not be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerError {
    /// The timer store is full (its capacity is set by the builder).
    Overflow,
}

impl fmt::Display for TimerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimerError::Overflow => f.write_str("selectio: the timer store is full"),
        }
    }
}

impl std::error::Error for TimerError {}

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    /// Linked into the slot list of its tick.
    Wheel,
    /// Collected by `advance`, waiting in the due list.
    Due,
}

#[derive(Debug)]
struct Entry<T> {
    data: Option<T>,
    /// Exact deadline in nanoseconds since `origin`, saturating (u64::MAX = never).
    deadline: u64,
    /// The tick whose slot holds this entry.
    tick: u64,
    seq: u64,
    generation: u32,
    state: State,
    prev: u32,
    next: u32,
}

/// A hashed timing wheel storing a `T` per timer.
#[derive(Debug)]
pub struct TimerWheel<T> {
    origin: Instant,
    tick_ns: u64,
    /// The first tick not yet visited by `advance`.
    cursor: u64,
    slots: Vec<u32>,
    mask: u64,
    entries: Vec<Entry<T>>,
    free: u32,
    capacity: usize,
    len: usize,
    seq: u64,
    due: Vec<(u64, u64, u32)>,
    due_pos: usize,
    /// A lower bound of the earliest pending tick (`u64::MAX`: none known).
    earliest: u64,
}

impl<T> TimerWheel<T> {
    /// A wheel of `slots` slots (rounded up to a power of two) of `tick` each, holding
    /// at most `capacity` timers, counting time from `origin`.
    ///
    /// # Panics
    /// If `tick` is zero or `slots` or `capacity` is zero or above `u32::MAX / 2`; the
    /// `EventLoop` builder validates these and returns `InvalidInput` instead.
    pub fn new(origin: Instant, tick: Duration, slots: usize, capacity: usize) -> TimerWheel<T> {
        assert!(!tick.is_zero(), "timer tick must not be zero");
        assert!(
            slots > 0 && slots <= (u32::MAX / 2) as usize,
            "bad slot count"
        );
        assert!(
            capacity > 0 && capacity < (u32::MAX / 2) as usize,
            "bad capacity"
        );
        let slots = slots.next_power_of_two();
        TimerWheel {
            origin,
            tick_ns: u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX),
            cursor: 0,
            slots: vec![NIL; slots],
            mask: slots as u64 - 1,
            entries: Vec::new(),
            free: NIL,
            capacity,
            len: 0,
            seq: 0,
            due: Vec::new(),
            due_pos: 0,
            earliest: u64::MAX,
        }
    }

    /// How many timers are pending (in the wheel or collected but not yet popped).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn nanos_since_origin(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Sets a timer that fires `after` from `now`, never earlier.
    pub fn insert(
        &mut self,
        now: Instant,
        after: Duration,
        data: T,
    ) -> Result<Timeout, TimerError> {
        if self.len >= self.capacity {
            return Err(TimerError::Overflow);
        }
        let after_ns = u64::try_from(after.as_nanos()).unwrap_or(u64::MAX);
        let deadline = self.nanos_since_origin(now).saturating_add(after_ns);
        // ceil(deadline / tick), and never a tick already visited.
        let tick = deadline.div_ceil(self.tick_ns).max(self.cursor);
        let index = self.alloc(data, deadline, tick);
        self.link(index);
        self.earliest = self.earliest.min(tick);
        self.len += 1;
        let generation = self.entries[index as usize].generation;
        Ok(Timeout { index, generation })
    }

    fn alloc(&mut self, data: T, deadline: u64, tick: u64) -> u32 {
        self.seq += 1;
        let entry = Entry {
            data: Some(data),
            deadline,
            tick,
            seq: self.seq,
            generation: 0,
            state: State::Wheel,
            prev: NIL,
            next: NIL,
        };
        if self.free == NIL {
            self.entries.push(entry);
            return (self.entries.len() - 1) as u32;
        }
        let index = self.free;
        let slot = &mut self.entries[index as usize];
        self.free = slot.next;
        let generation = slot.generation;
        *slot = Entry {
            generation,
            ..entry
        };
        index
    }

    fn link(&mut self, index: u32) {
        let slot = (self.entries[index as usize].tick & self.mask) as usize;
        let head = self.slots[slot];
        self.entries[index as usize].next = head;
        self.entries[index as usize].prev = NIL;
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        self.slots[slot] = index;
    }

    fn unlink(&mut self, index: u32) {
        let (prev, next, tick) = {
            let e = &self.entries[index as usize];
            (e.prev, e.next, e.tick)
        };
        if prev == NIL {
            self.slots[(tick & self.mask) as usize] = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }

    fn release(&mut self, index: u32) -> Option<T> {
        let e = &mut self.entries[index as usize];
        e.state = State::Free;
        e.generation = e.generation.wrapping_add(1);
        e.next = self.free;
        self.free = index;
        self.len -= 1;
        e.data.take()
    }

    /// Cancels a pending timer; `true` only if it was pending (it will not fire).
    pub fn cancel(&mut self, timeout: &Timeout) -> bool {
        let Some(e) = self.entries.get(timeout.index as usize) else {
            return false;
        };
        if e.generation != timeout.generation {
            return false;
        }
        match e.state {
            State::Free => false,
            State::Wheel => {
                self.unlink(timeout.index);
                self.release(timeout.index);
                true
            }
            // Still listed in `due`; `pop_due` skips freed entries by generation.
            State::Due => {
                self.release(timeout.index);
                true
            }
        }
    }

    /// Collects every timer due at `now` for [`pop_due`](TimerWheel::pop_due), in
    /// (deadline, insertion) order. Timers inserted later wait for the next call.
    pub fn advance(&mut self, now: Instant) {
        self.due.clear();
        self.due_pos = 0;
        // Every tick < `end` has fully elapsed.
        let end = self.nanos_since_origin(now) / self.tick_ns + 1;
        if end <= self.cursor {
            return;
        }
        if self.len > 0 && self.earliest < end {
            // Past a whole revolution each slot needs one visit only.
            let first = self.cursor.max(end.saturating_sub(self.slots.len() as u64));
            for tick in first..end {
                self.collect_slot(tick, end);
            }
            self.earliest = self.next_pending_tick(end);
            self.due.sort_unstable();
        }
        self.cursor = end;
    }

    fn collect_slot(&mut self, tick: u64, end: u64) {
        let mut index = self.slots[(tick & self.mask) as usize];
        while index != NIL {
            let e = &self.entries[index as usize];
            let next = e.next;
            if e.tick < end {
                let key = (e.deadline, e.seq, index);
                self.unlink(index);
                self.entries[index as usize].state = State::Due;
                self.due.push(key);
            }
            index = next;
        }
    }

    /// The earliest tick still in the wheel, scanning one revolution from `from`.
    fn next_pending_tick(&self, from: u64) -> u64 {
        let mut best = u64::MAX;
        for offset in 0..self.slots.len() as u64 {
            let mut index = self.slots[((from + offset) & self.mask) as usize];
            while index != NIL {
                best = best.min(self.entries[index as usize].tick);
                index = self.entries[index as usize].next;
            }
            if best <= from + offset {
                break;
            }
        }
        best
    }

    /// The next due timer collected by the last [`advance`](TimerWheel::advance).
    pub fn pop_due(&mut self) -> Option<T> {
        while let Some(&(_, seq, index)) = self.due.get(self.due_pos) {
            self.due_pos += 1;
            let e = &self.entries[index as usize];
            if e.state == State::Due && e.seq == seq {
                return self.release(index);
            }
        }
        None
    }

    /// How long from `now` until the next timer may be due: `None` with no timer, zero
    /// if one is due already. May be earlier than the true next deadline (never later),
    /// so a caller that sleeps this long and calls `advance` misses nothing.
    pub fn next_timeout(&self, now: Instant) -> Option<Duration> {
        if self.len == 0 || self.earliest == u64::MAX {
            return None;
        }
        if self.due_pos < self.due.len() {
            return Some(Duration::ZERO);
        }
        let at = self.earliest.saturating_mul(self.tick_ns);
        let now = self.nanos_since_origin(now);
        Some(Duration::from_nanos(at.saturating_sub(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn wheel(slots: usize) -> (Instant, TimerWheel<u32>) {
        let t0 = Instant::now();
        (t0, TimerWheel::new(t0, MS, slots, 1024))
    }

    fn fire(w: &mut TimerWheel<u32>, at: Instant) -> Vec<u32> {
        w.advance(at);
        std::iter::from_fn(|| w.pop_due()).collect()
    }

    #[test]
    fn never_early_and_at_most_one_tick_late() {
        let (t0, mut w) = wheel(8);
        w.insert(t0, Duration::from_micros(2500), 1).unwrap();
        assert!(fire(&mut w, t0 + Duration::from_micros(2499)).is_empty());
        assert!(fire(&mut w, t0 + Duration::from_micros(2999)).is_empty());
        assert_eq!(fire(&mut w, t0 + 3 * MS), vec![1]);
        assert!(w.is_empty());
    }

    #[test]
    fn same_batch_fires_in_deadline_then_insertion_order() {
        let (t0, mut w) = wheel(8);
        w.insert(t0, 5 * MS, 50).unwrap();
        w.insert(t0, 2 * MS, 20).unwrap();
        w.insert(t0, 5 * MS, 51).unwrap();
        w.insert(t0, Duration::from_micros(4200), 42).unwrap();
        assert_eq!(fire(&mut w, t0 + 10 * MS), vec![20, 42, 50, 51]);
    }

    #[test]
    fn wrap_around_and_same_slot_one_revolution_apart() {
        let (t0, mut w) = wheel(4);
        // Ticks 3 and 7 share slot 3 of a 4-slot wheel.
        w.insert(t0, 3 * MS, 3).unwrap();
        w.insert(t0, 7 * MS, 7).unwrap();
        assert_eq!(fire(&mut w, t0 + 3 * MS), vec![3]);
        assert!(fire(&mut w, t0 + 6 * MS).is_empty());
        assert_eq!(fire(&mut w, t0 + 7 * MS), vec![7]);
    }

    #[test]
    fn long_delays_never_fire_early() {
        let (t0, mut w) = wheel(16);
        w.insert(t0, 1000 * MS, 1).unwrap();
        for ms in (0..1000).step_by(7) {
            assert!(fire(&mut w, t0 + ms * MS).is_empty(), "fired at {ms} ms");
        }
        assert_eq!(fire(&mut w, t0 + 1000 * MS), vec![1]);
    }

    #[test]
    fn huge_delay_is_accepted_and_never_fires() {
        let (t0, mut w) = wheel(16);
        let t = w.insert(t0, Duration::MAX, 1).unwrap();
        assert!(fire(&mut w, t0 + Duration::from_secs(10 * 365 * 86_400)).is_empty());
        assert!(w.cancel(&t));
    }

    #[test]
    fn cancel_is_true_only_while_pending() {
        let (t0, mut w) = wheel(8);
        let a = w.insert(t0, 2 * MS, 1).unwrap();
        assert!(w.cancel(&a));
        assert!(!w.cancel(&a));
        let b = w.insert(t0, 2 * MS, 2).unwrap();
        // The slab slot is reused with a new generation: the old handle is dead.
        assert!(!w.cancel(&a));
        assert_eq!(fire(&mut w, t0 + 2 * MS), vec![2]);
        assert!(!w.cancel(&b));
    }

    #[test]
    fn clearing_between_collection_and_firing() {
        let (t0, mut w) = wheel(8);
        w.insert(t0, MS, 1).unwrap();
        let b = w.insert(t0, MS, 2).unwrap();
        w.advance(t0 + 2 * MS);
        assert_eq!(w.pop_due(), Some(1));
        // As a timeout callback cancelling another due timer would.
        assert!(w.cancel(&b));
        assert_eq!(w.pop_due(), None);
        assert!(w.is_empty());
    }

    #[test]
    fn inserted_during_firing_waits_for_next_advance() {
        let (t0, mut w) = wheel(8);
        w.insert(t0, MS, 1).unwrap();
        let now = t0 + 2 * MS;
        w.advance(now);
        assert_eq!(w.pop_due(), Some(1));
        w.insert(now, Duration::ZERO, 2).unwrap();
        assert_eq!(w.pop_due(), None);
        // Its tick was already visited: it goes to the next one, at most a tick late.
        assert!(fire(&mut w, now).is_empty());
        assert_eq!(fire(&mut w, now + MS), vec![2]);
    }

    #[test]
    fn overflow_is_an_error() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, MS, 8, 2);
        w.insert(t0, MS, 1).unwrap();
        w.insert(t0, MS, 2).unwrap();
        assert_eq!(w.insert(t0, MS, 3), Err(TimerError::Overflow));
        assert_eq!(fire(&mut w, t0 + MS).len(), 2);
        w.insert(t0, MS, 3).unwrap();
    }

    #[test]
    fn next_timeout_is_a_lower_bound() {
        let (t0, mut w) = wheel(8);
        assert_eq!(w.next_timeout(t0), None);
        w.insert(t0, 20 * MS, 1).unwrap();
        w.insert(t0, 5 * MS, 2).unwrap();
        assert!(w.next_timeout(t0).unwrap() <= 5 * MS);
        assert_eq!(fire(&mut w, t0 + 5 * MS), vec![2]);
        let left = w.next_timeout(t0 + 5 * MS).unwrap();
        assert!(left <= 15 * MS && left > Duration::ZERO, "{left:?}");
    }

    #[test]
    fn many_timers_fire_exactly_once_in_order() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, MS, 64, 10_000);
        for i in 0..10_000u32 {
            w.insert(t0, Duration::from_micros(u64::from(i * 37 % 5000)), i)
                .unwrap();
        }
        let mut fired = Vec::new();
        for ms in 0..=5 {
            fired.extend(fire(&mut w, t0 + ms * MS));
        }
        assert_eq!(fired.len(), 10_000);
        let mut seen = vec![false; 10_000];
        for i in &fired {
            assert!(!std::mem::replace(&mut seen[*i as usize], true));
        }
        let deadlines: Vec<u32> = fired.iter().map(|i| i * 37 % 5000).collect();
        // Within one advance deadlines ascend; across advances ticks ascend: all sorted.
        assert!(deadlines.windows(2).all(|p| p[0] <= p[1]));
    }
}
