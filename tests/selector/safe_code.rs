//! What safe code cannot do: reach memory the kernel writes into beyond its bounds.
//!
//! An earlier `Events::raw_mut` handed out the backing `Vec`, so a caller could shrink it
//! and the next `select` had the kernel write `capacity` events into the smaller
//! allocation: a heap overflow from safe code (`malloc(): corrupted top size`). This file
//! forbids `unsafe` and drives every public way of filling or changing an `Events` before
//! a `select` that has more ready fds than room; `.ci/asan` runs it under
//! AddressSanitizer, where any write past the allocation aborts the test.
#![cfg(unix)]
#![forbid(unsafe_code)]

use std::io::Write;
use std::mem::MaybeUninit;

use selectio::pipe::{pipe, PipeReader, PipeWriter};
use selectio::{Events, Interest, Mode, Selector, Source, Token};

/// 200 pipes with a byte in each: 200 ready readers.
fn ready_pipes() -> Vec<(PipeReader, PipeWriter)> {
    (0..200)
        .map(|_| {
            let (r, mut w) = pipe().expect("pipe");
            w.write_all(b"x").expect("write");
            (r, w)
        })
        .collect()
}

fn select_on_a_used_buffer_stays_in_bounds<S: Selector>() {
    let selector = S::new().expect("selector");
    let pipes = ready_pipes();
    for (i, (r, _)) in pipes.iter().enumerate() {
        selector
            .register(r.source(), Token(i), Interest::READABLE, Mode::Level)
            .expect("register");
    }
    for capacity in [256, 64, 1] {
        let mut events = Events::<S>::with_capacity(capacity).expect("events");
        let mut reported = 0;
        // Every public call that touches the storage, then a select with 200 ready fds.
        for round in 0..4 {
            let stored = events.len();
            let spare = events.spare_capacity_mut();
            assert_eq!(spare.len(), capacity - stored, "round {round}");
            spare.fill(MaybeUninit::uninit());
            selector.select(&mut events, None).expect("select");
            assert!(events.len() <= capacity, "{} > {capacity}", events.len());
            reported += events.len();
            // A full buffer refuses more: pushing hands the event back.
            if let Some(&raw) = events.raw().first() {
                while events.push(raw).is_ok() {}
                assert_eq!(events.len(), capacity);
                assert!(events.push(raw).is_err());
                assert!(events.spare_capacity_mut().is_empty());
            }
            while events.remove(0).is_some() {}
            assert!(events.is_empty());
        }
        assert!(reported >= 4 * capacity.min(200), "{reported} events");
    }
    for (r, _) in &pipes {
        selector.deregister(r.source()).expect("deregister");
    }
}

macro_rules! safe_tests {
    ($sel:ty, $new:expr) => {
        #[test]
        fn select_on_a_used_buffer_stays_in_bounds() {
            super::select_on_a_used_buffer_stays_in_bounds::<$sel>();
        }
    };
}

each_backend!(safe_tests);

mod any {
    #[test]
    fn select_on_a_used_buffer_stays_in_bounds() {
        super::select_on_a_used_buffer_stays_in_bounds::<selectio::backends::AnySelector>();
    }
}
