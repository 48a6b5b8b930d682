//! `TimerWheel`: a hashed timing wheel with O(1) insert and cancel, used by the
//! `EventLoop` for its timeouts; pure data structure, tested without any fd.
//!
//! # Implementation notes
//! - Time is counted in ticks of `tick` since the wheel's `origin`. A timer due at
//!   `deadline` belongs to tick `ceil(deadline / tick)`; ticks are grouped in
//!   revolutions of `slots` ticks.
//! - Two levels, each a hashed wheel whose slots list slab indices (an entry knows its
//!   position, so insert and cancel are O(1) pushes and swap-removes): level 0 holds the timers of the cursor's revolution,
//!   one slot per tick; level 1 holds later ones, one slot per revolution (hashed, so a
//!   timer more than `slots²` ticks away shares a slot with nearer ones and is skipped
//!   until its revolution comes). When the cursor enters a revolution, that
//!   revolution's level-1 slot moves down to level 0. Every timer is touched at most
//!   once when it moves down and once when it fires, however far away it was set.
//! - [`TimerWheel::advance`] visits every tick that has fully elapsed
//!   (`floor(now / tick)`), so a timer never fires early: `floor(now) >= ceil(deadline)`
//!   implies `now >= deadline`.
//! - Due timers are moved to a due list sorted by (exact deadline, insertion order), then
//!   handed out one by one by [`TimerWheel::pop_due`]; a timer cancelled after being
//!   collected but before being popped does not fire, and a timer inserted meanwhile
//!   waits for the next `advance`.
//! - The slab and the due list keep their memory: no allocation per timer once warm.
//! - Any non-zero tick works here, but its cost is the caller's: `advance` visits each
//!   elapsed tick of a revolution that holds timers, and a timer more than `slots²` ticks
//!   away is only known to level 1 by its hashed revolution, so
//!   [`TimerWheel::next_timeout`] can promise no more than the next revolution. The
//!   `EventLoop` builder therefore takes ticks from 10 µs (below which no kernel wakes a
//!   `select` sooner) to an hour.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A handle to a pending timer, returned by [`EventLoop::timeout`](crate::EventLoop::timeout):
/// cancel the timer with [`EventLoop::clear_timeout`](crate::EventLoop::clear_timeout) or
/// move it with [`EventLoop::reset_timeout`](crate::EventLoop::reset_timeout) (on a bare
/// [`TimerWheel`], [`TimerWheel::cancel`] and [`TimerWheel::reset`]).
///
/// It is `Copy` and stays harmless after its timer fired or was cancelled: those calls
/// then return `false`, and a handle never touches a timer set later in its place or
/// one of another loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeout {
    index: u32,
    generation: u32,
    /// The wheel that made it: another wheel's handle cancels nothing.
    wheel: u32,
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

/// So a function returning `io::Result` can set timers with `?`: `Overflow` becomes an
/// error of kind `Other` with the same message.
impl From<TimerError> for std::io::Error {
    fn from(err: TimerError) -> std::io::Error {
        std::io::Error::other(err)
    }
}

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The cursor's revolution: one slot per tick.
    Ticks,
    /// Later revolutions: one slot per revolution.
    Revolutions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    /// Linked into a slot list of level 0 (its tick) or level 1 (its revolution).
    Wheel(Level),
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
    /// In the wheel: the position in its slot's list. Free: the next free entry.
    link: u32,
}

/// A two-level hashed timing wheel storing a `T` per timer.
#[derive(Debug)]
pub struct TimerWheel<T> {
    /// Tells this wheel's `Timeout`s from other wheels'.
    id: u32,
    origin: Instant,
    tick_ns: u64,
    /// The first tick not yet visited by `advance`.
    cursor: u64,
    /// log2 of the slot count: a revolution is `1 << bits` ticks.
    bits: u32,
    mask: u64,
    /// Level 0: the cursor's revolution, one slot per tick.
    ticks: Vec<Vec<u32>>,
    /// Level 1: later revolutions, one slot per revolution (hashed).
    revolutions: Vec<Vec<u32>>,
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
    /// A wheel of `slots` slots per level (rounded up to a power of two) of `tick` each,
    /// holding at most `capacity` timers, counting time from `origin`.
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
        static NEXT_ID: AtomicU32 = AtomicU32::new(0);
        TimerWheel {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            origin,
            tick_ns: u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX),
            cursor: 0,
            bits: slots.trailing_zeros(),
            mask: slots as u64 - 1,
            ticks: vec![Vec::new(); slots],
            revolutions: vec![Vec::new(); slots],
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
        let now = self.nanos_since_origin(now);
        if self.len == 0 {
            // Nothing is pending: skip the ticks that elapsed since the last `advance`
            // (tick `now / tick` itself is not over, so it stays unvisited).
            self.cursor = self.cursor.max(now / self.tick_ns);
        }
        let deadline = now.saturating_add(u64::try_from(after.as_nanos()).unwrap_or(u64::MAX));
        // ceil(deadline / tick), and never a tick already visited.
        let tick = deadline.div_ceil(self.tick_ns).max(self.cursor);
        let index = self.alloc(data, deadline, tick);
        self.link(index);
        self.earliest = self.earliest.min(tick);
        self.len += 1;
        let generation = self.entries[index as usize].generation;
        Ok(Timeout {
            index,
            generation,
            wheel: self.id,
        })
    }

    fn alloc(&mut self, data: T, deadline: u64, tick: u64) -> u32 {
        self.seq += 1;
        let entry = Entry {
            data: Some(data),
            deadline,
            tick,
            seq: self.seq,
            generation: 0,
            state: State::Free,
            link: NIL,
        };
        if self.free == NIL {
            self.entries.push(entry);
            return (self.entries.len() - 1) as u32;
        }
        let index = self.free;
        let slot = &mut self.entries[index as usize];
        self.free = slot.link;
        let generation = slot.generation;
        *slot = Entry {
            generation,
            ..entry
        };
        index
    }

    /// The slot list of `level` that holds `tick`.
    fn slot(&mut self, level: Level, tick: u64) -> &mut Vec<u32> {
        match level {
            Level::Ticks => &mut self.ticks[(tick & self.mask) as usize],
            Level::Revolutions => &mut self.revolutions[((tick >> self.bits) & self.mask) as usize],
        }
    }

    /// Adds an entry to level 0 if its tick is in the cursor's revolution, else to 1.
    fn link(&mut self, index: u32) {
        let tick = self.entries[index as usize].tick;
        let level = if tick >> self.bits <= self.cursor >> self.bits {
            Level::Ticks
        } else {
            Level::Revolutions
        };
        let slot = self.slot(level, tick);
        slot.push(index);
        let position = (slot.len() - 1) as u32;
        let e = &mut self.entries[index as usize];
        e.state = State::Wheel(level);
        e.link = position;
    }

    /// Removes an entry from its slot list: O(1), the last entry takes its place.
    fn unlink(&mut self, index: u32, level: Level) {
        let (position, tick) = {
            let e = &self.entries[index as usize];
            (e.link as usize, e.tick)
        };
        let slot = self.slot(level, tick);
        slot.swap_remove(position);
        if let Some(&moved) = slot.get(position) {
            self.entries[moved as usize].link = position as u32;
        }
    }

    fn release(&mut self, index: u32) -> Option<T> {
        let e = &mut self.entries[index as usize];
        e.state = State::Free;
        e.generation = e.generation.wrapping_add(1);
        e.link = self.free;
        self.free = index;
        self.len -= 1;
        e.data.take()
    }

    /// The state of the timer `timeout` names, if this wheel made it and it is still
    /// that timer (not fired or cancelled, its slot not reused).
    fn state_of(&self, timeout: &Timeout) -> Option<State> {
        if timeout.wheel != self.id {
            return None;
        }
        let e = self.entries.get(timeout.index as usize)?;
        (e.generation == timeout.generation).then_some(e.state)
    }

    /// Cancels a pending timer; `true` only if it was pending (it will not fire).
    pub fn cancel(&mut self, timeout: &Timeout) -> bool {
        match self.state_of(timeout) {
            None | Some(State::Free) => false,
            Some(State::Wheel(level)) => {
                self.unlink(timeout.index, level);
                self.release(timeout.index);
                true
            }
            // Still listed in `due`; `pop_due` skips freed entries by generation.
            Some(State::Due) => {
                self.release(timeout.index);
                true
            }
        }
    }

    /// Moves a pending timer to fire `after` from `now` instead, in O(1): the idle-timeout
    /// pattern (push a connection's deadline back on every read) without a cancel and an
    /// insert. The handle stays valid. `true` only if the timer was pending; a timer
    /// collected as due but not yet handed out is pending too, and is taken back from the
    /// due list. It then orders after timers set earlier with the same deadline.
    pub fn reset(&mut self, timeout: &Timeout, now: Instant, after: Duration) -> bool {
        match self.state_of(timeout) {
            None | Some(State::Free) => return false,
            Some(State::Wheel(level)) => self.unlink(timeout.index, level),
            // Still listed in `due`: the new `seq` makes `pop_due` skip that listing.
            Some(State::Due) => {}
        }
        let deadline = self.deadline(now, after);
        let tick = deadline.div_ceil(self.tick_ns).max(self.cursor);
        self.seq += 1;
        let e = &mut self.entries[timeout.index as usize];
        (e.deadline, e.tick, e.seq) = (deadline, tick, self.seq);
        self.link(timeout.index);
        self.earliest = self.earliest.min(tick);
        true
    }

    /// The deadline `after` from `now`, in nanoseconds since `origin`, saturating.
    fn deadline(&self, now: Instant, after: Duration) -> u64 {
        let now = self.nanos_since_origin(now);
        now.saturating_add(u64::try_from(after.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Collects every timer due at `now` for [`pop_due`](TimerWheel::pop_due), in
    /// (deadline, insertion) order. Timers inserted later wait for the next call. Timers
    /// collected by an earlier call and not popped yet (a `timeout` callback panicked
    /// before the rest were handed out) stay due, merged in that order.
    pub fn advance(&mut self, now: Instant) {
        self.due.drain(..self.due_pos);
        self.due_pos = 0;
        // Every tick < `end` has fully elapsed.
        let end = self.nanos_since_origin(now) / self.tick_ns + 1;
        if self.len == 0 {
            self.cursor = self.cursor.max(end);
            return;
        }
        while self.cursor < end {
            if self.earliest >= end {
                // Nothing is due before `end`.
                self.move_to(end);
                break;
            }
            // At most to the end of the cursor's revolution, whose slots level 0 holds.
            let stop = (((self.cursor >> self.bits) + 1) << self.bits).min(end);
            for tick in self.cursor.max(self.earliest)..stop {
                self.collect(tick);
            }
            self.move_to(stop);
        }
        self.due.sort_unstable();
    }

    /// Moves the cursor to `to`, bringing down the level-1 slot of every revolution it
    /// enters, and recomputes `earliest`.
    fn move_to(&mut self, to: u64) {
        let (from_rev, to_rev) = (self.cursor >> self.bits, to >> self.bits);
        let collected = self.due.len() > self.due_pos;
        self.cursor = to;
        // Past `slots` revolutions, every level-1 slot needs one visit only.
        let first = (from_rev + 1).max(to_rev.saturating_sub(self.mask));
        for rev in first..=to_rev {
            self.bring_down(rev);
        }
        // Otherwise `earliest` (≥ `to`) is still a lower bound: no scan on idle calls.
        if collected || to_rev > from_rev || self.earliest < to {
            self.earliest = self.next_pending_tick();
        }
    }

    /// Moves the timers of revolution `rev` from level 1 to level 0.
    ///
    /// Slot lists are arrays, not linked lists: walking one, the CPU fetches the next
    /// entries while it works on this one, where following `next` pointers would wait
    /// for each cache miss in turn.
    fn bring_down(&mut self, rev: u64) {
        let slot = (rev & self.mask) as usize;
        let mut list = std::mem::take(&mut self.revolutions[slot]);
        let mut kept = 0;
        for i in 0..list.len() {
            let index = list[i];
            // Ticks of revolutions passed by a long jump are due at once: level 0 too.
            if self.entries[index as usize].tick >> self.bits <= rev {
                self.link(index);
            } else {
                list[kept] = index;
                self.entries[index as usize].link = kept as u32;
                kept += 1;
            }
        }
        list.truncate(kept);
        self.revolutions[slot] = list;
    }

    /// Moves every timer of level 0's slot for `tick` that is due to the due list.
    fn collect(&mut self, tick: u64) {
        let slot = (tick & self.mask) as usize;
        let mut list = std::mem::take(&mut self.ticks[slot]);
        let mut kept = 0;
        for i in 0..list.len() {
            let index = list[i];
            let e = &mut self.entries[index as usize];
            if e.tick <= tick {
                e.state = State::Due;
                self.due.push((e.deadline, e.seq, index));
            } else {
                e.link = kept as u32;
                list[kept] = index;
                kept += 1;
            }
        }
        list.truncate(kept);
        self.ticks[slot] = list;
    }

    /// The earliest tick in level 0 (the first non-empty slot from the cursor: all its
    /// timers share that tick), else the start of the next revolution if level 1 holds
    /// timers (a lower bound), else `u64::MAX`.
    fn next_pending_tick(&self) -> u64 {
        let rev_end = ((self.cursor >> self.bits) + 1) << self.bits;
        for tick in self.cursor..rev_end {
            if let Some(&first) = self.ticks[(tick & self.mask) as usize].first() {
                return self.entries[first as usize].tick.max(self.cursor);
            }
        }
        let in_due = self.due.len() - self.due_pos;
        if self.len > in_due {
            rev_end
        } else {
            u64::MAX
        }
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
    fn timers_beyond_both_levels_fire_on_their_tick() {
        // 4 slots: a revolution is 4 ticks, level 1 wraps every 16 ticks.
        let (t0, mut w) = wheel(4);
        for ms in [5u32, 17, 33, 70, 16] {
            w.insert(t0, ms * MS, ms).unwrap();
        }
        let mut fired = Vec::new();
        for ms in 0..=80u32 {
            for t in fire(&mut w, t0 + ms * MS) {
                fired.push((t, ms));
            }
        }
        assert_eq!(fired, vec![(5, 5), (16, 16), (17, 17), (33, 33), (70, 70)]);
    }

    #[test]
    fn cancel_in_level_one_and_after_moving_down() {
        let (t0, mut w) = wheel(4);
        let far = w.insert(t0, 9 * MS, 9).unwrap();
        let farther = w.insert(t0, 10 * MS, 10).unwrap();
        assert!(w.cancel(&far));
        // Revolution 2 (ticks 8..12) moves down at tick 8.
        assert!(fire(&mut w, t0 + 8 * MS).is_empty());
        assert!(w.cancel(&farther));
        assert!(fire(&mut w, t0 + 20 * MS).is_empty());
        assert!(w.is_empty());
    }

    #[test]
    fn a_long_pause_between_advances_fires_everything_due_in_order() {
        let (t0, mut w) = wheel(4);
        for ms in [3u32, 41, 7, 100, 12] {
            w.insert(t0, ms * MS, ms).unwrap();
        }
        assert_eq!(fire(&mut w, t0 + 50 * MS), vec![3, 7, 12, 41]);
        assert!(fire(&mut w, t0 + 99 * MS).is_empty());
        assert_eq!(fire(&mut w, t0 + 100 * MS), vec![100]);
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
    fn collected_but_unpopped_timers_stay_due_across_advance() {
        let (t0, mut w) = wheel(8);
        for (ms, id) in [(1, 1), (1, 2), (2, 3), (9, 9)] {
            w.insert(t0, ms * MS, id).unwrap();
        }
        w.advance(t0 + 2 * MS);
        assert_eq!(w.pop_due(), Some(1));
        // The caller stops popping here, as when a `timeout` callback panics.
        w.insert(t0 + 2 * MS, Duration::ZERO, 4).unwrap();
        assert_eq!(w.next_timeout(t0 + 2 * MS), Some(Duration::ZERO));
        assert_eq!(fire(&mut w, t0 + 3 * MS), vec![2, 3, 4]);
        assert_eq!(fire(&mut w, t0 + 9 * MS), vec![9]);
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
    fn reset_moves_a_pending_timer_and_keeps_its_handle() {
        let (t0, mut w) = wheel(64);
        let a = w.insert(t0, 10 * MS, 1).unwrap();
        w.insert(t0, 20 * MS, 2).unwrap();
        // Later, and across a revolution (level 1), then earlier again.
        assert!(w.reset(&a, t0 + 5 * MS, 100 * MS));
        assert_eq!(fire(&mut w, t0 + 50 * MS), [2]);
        assert!(w.reset(&a, t0 + 50 * MS, 30 * MS));
        assert_eq!(fire(&mut w, t0 + 79 * MS), Vec::<u32>::new());
        assert_eq!(fire(&mut w, t0 + 81 * MS), [1]);
        // Fired: the handle is stale now.
        assert!(!w.reset(&a, t0 + 81 * MS, MS));
        assert!(!w.cancel(&a));
        assert!(w.is_empty());
    }

    #[test]
    fn reset_of_a_collected_timer_takes_it_back_from_the_due_list() {
        let (t0, mut w) = wheel(64);
        let a = w.insert(t0, MS, 1).unwrap();
        let b = w.insert(t0, MS, 2).unwrap();
        w.advance(t0 + 2 * MS);
        assert!(w.reset(&b, t0 + 2 * MS, 5 * MS));
        assert_eq!(w.pop_due(), Some(1));
        assert_eq!(w.pop_due(), None);
        assert_eq!(fire(&mut w, t0 + 6 * MS), Vec::<u32>::new());
        assert_eq!(fire(&mut w, t0 + 8 * MS), [2]);
        assert!(!w.reset(&a, t0, MS));
        assert!(w.is_empty());
    }

    #[test]
    fn reset_is_never_early_and_other_wheels_handles_do_nothing() {
        let (t0, mut w) = wheel(8);
        let (_, mut other) = wheel(8);
        let a = w.insert(t0, MS, 7).unwrap();
        assert!(!other.reset(&a, t0, MS));
        for step in 1..=50u32 {
            assert!(w.reset(&a, t0 + step * MS, 3 * MS), "step {step}");
            assert_eq!(fire(&mut w, t0 + step * MS), Vec::<u32>::new());
        }
        assert_eq!(fire(&mut w, t0 + 52 * MS), Vec::<u32>::new());
        assert_eq!(fire(&mut w, t0 + 53 * MS), [7]);
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
