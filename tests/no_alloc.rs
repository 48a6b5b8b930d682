//! No allocation per `select` or per event in steady state, on every backend here (the
//! last line of the checklist in `src/selector.rs`).
//!
//! A counting global allocator counts the allocations of the current thread while a
//! thread-local switch is on; the switch covers `select` and the iteration over its
//! events, 1,000 times per backend and mode after a warm-up, and 100 EventLoop
//! iterations over 64 ready sources per backend.
// Unix only: the sources are pipes, and Windows' one backend (polling on IOCP/AFD)
// watches sockets only.
#![cfg(unix)]

use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use selectio::conformance::{count_allocations as allocations, CountingAllocator};
#[allow(unused_imports)]
use selectio::{backends, AnySelector, Backend};
use selectio::{EventLoop, Events, Handler, Interest, Mode, Ready, Selector, Token};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const TOKEN: Token = Token(7);

/// One round: write a byte, select until the reader is reported (counted), read it back.
fn round<S: Selector>(
    sel: &S,
    events: &mut Events<S>,
    pipe: &mut (PipeReader, PipeWriter),
) -> usize {
    pipe.1.write_all(&[1]).expect("write");
    let mut seen = false;
    let counted = allocations(|| {
        for _ in 0..100 {
            let result = sel.select(events, Some(Duration::from_secs(5)));
            seen = result.is_ok() && events.iter().any(|e| e.token() == TOKEN && e.is_readable());
            if seen {
                break;
            }
        }
    });
    assert!(seen, "[{}] the written pipe was not reported", sel.name());
    pipe.0.read_exact(&mut [0u8; 1]).expect("read");
    counted
}

/// 1,000 counted rounds per supported mode, after a warm-up, allocate nothing.
fn steady_state<S: Selector>(new: fn() -> io::Result<S>) {
    let sel = new().expect("creating the selector");
    let mut events = Events::with_capacity(64).expect("Events::with_capacity");
    for mode in sel.capabilities().modes() {
        let mut pipe = io::pipe().expect("pipe");
        sel.register(pipe.0.as_fd(), TOKEN, Interest::READABLE, mode)
            .expect("register");
        let mut total = 0;
        for i in 0..1_010 {
            let counted = round(&sel, &mut events, &mut pipe);
            // The first rounds warm up (buffers sized on first use, lazy statics).
            if i >= 10 {
                total += counted;
            }
            if mode == Mode::Oneshot {
                sel.reregister(pipe.0.as_fd(), TOKEN, Interest::READABLE, mode)
                    .expect("reregister");
            }
        }
        sel.deregister(pipe.0.as_fd()).expect("deregister");
        assert_eq!(
            total,
            0,
            "[{}] {mode:?}: {total} allocations in 1,000 select rounds",
            sel.name()
        );
    }
}

/// Counts the `ready` calls of the EventLoop's steady state.
struct Count(usize);

impl<S: Selector> Handler<S> for Count {
    type Timeout = ();
    type Message = ();

    fn ready(&mut self, _: &mut EventLoop<Self, S>, _: Token, _: Ready) {
        self.0 += 1;
    }
}

/// The allocations made by 100 `run_once(Some(ZERO))` of a warm loop; asserts none
/// failed. (A failure is only counted inside the window: its message would allocate.)
fn hundred_iterations<H: Handler<S>, S: Selector>(el: &mut EventLoop<H, S>, h: &mut H) -> usize {
    let mut failures = 0;
    let counted = allocations(|| {
        for _ in 0..100 {
            failures += usize::from(el.run_once(h, Some(Duration::ZERO)).is_err());
        }
    });
    assert_eq!(failures, 0, "run_once failed");
    counted
}

/// EventLoop iterations over 64 always-readable pipes allocate nothing: with distinct
/// tokens registered in descending order (the batch comes back unordered and is checked
/// through the token set), and with two pipes under each token (the merge path).
fn event_loop_steady_state<S: Selector>() {
    for shared in [false, true] {
        let mut el: EventLoop<Count, S> = EventLoop::new().expect("EventLoop::new");
        let mut pipes = Vec::new();
        for i in (0..64).rev() {
            let mut pipe = io::pipe().expect("pipe");
            pipe.1.write_all(&[1]).expect("write");
            let token = Token(if shared { i / 2 } else { i } * 1_000_003);
            el.register(&pipe.0, token, Interest::READABLE, Mode::Level)
                .expect("register");
            pipes.push(pipe);
        }
        let calls = if shared { 32 } else { 64 };
        let mut h = Count(0);
        for _ in 0..3 {
            el.run_once(&mut h, Some(Duration::ZERO)).expect("run_once");
        }
        h.0 = 0;
        let counted = hundred_iterations(&mut el, &mut h);
        let name = el.selector().name();
        assert_eq!(h.0, 100 * calls, "[{name}] shared tokens: {shared}");
        assert_eq!(counted, 0, "[{name}] shared tokens: {shared}: allocations");
        for pipe in &pipes {
            el.deregister(&pipe.0).expect("deregister");
        }
    }
}

/// Moves each reported pipe to its other token (`2i` ↔ `2i + 1`): every `ready` call
/// changes a registration, so the loop marks tokens stale in every batch.
struct Churn(Vec<(PipeReader, PipeWriter)>);

impl<S: Selector> Handler<S> for Churn {
    type Timeout = ();
    type Message = ();

    fn ready(&mut self, el: &mut EventLoop<Self, S>, token: Token, _: Ready) {
        let moved = Token(token.0 ^ 1);
        let reader = &self.0[token.0 / 2].0;
        el.reregister(reader, moved, Interest::READABLE, Mode::Level)
            .expect("reregister");
    }
}

/// EventLoop iterations whose callbacks move 64 registrations to new tokens allocate
/// nothing once warm: the stale-token set keeps its room.
fn event_loop_registration_changes<S: Selector>() {
    let mut el: EventLoop<Churn, S> = EventLoop::new().expect("EventLoop::new");
    let mut h = Churn(Vec::new());
    for i in 0..64 {
        let mut pipe = io::pipe().expect("pipe");
        pipe.1.write_all(&[1]).expect("write");
        el.register(&pipe.0, Token(2 * i), Interest::READABLE, Mode::Level)
            .expect("register");
        h.0.push(pipe);
    }
    for _ in 0..3 {
        el.run_once(&mut h, Some(Duration::ZERO)).expect("run_once");
    }
    let counted = hundred_iterations(&mut el, &mut h);
    let name = el.selector().name();
    assert_eq!(counted, 0, "[{name}] allocations");
    for pipe in &h.0 {
        el.deregister(&pipe.0).expect("deregister");
    }
}

#[test]
fn counting_allocator_counts() {
    assert_eq!(allocations(|| drop(std::hint::black_box(Box::new(1u8)))), 1);
    assert_eq!(allocations(|| ()), 0);
}

/// Four tests per backend compiled in: `steady_state` on the backend itself (`$direct`) and
/// through `AnySelector` (`$any`), and the two EventLoop cases (`$el`, `$el_changes`).
macro_rules! per_backend {
    ($($cfg:ident, $B:ident: $direct:ident, $any:ident, $el:ident, $el_changes:ident;)*) => {
        $(
            #[cfg($cfg)]
            #[test]
            fn $direct() {
                steady_state(backends::$B::new);
            }

            #[cfg($cfg)]
            #[test]
            fn $any() {
                steady_state(|| AnySelector::with_backend(Backend::$B));
            }

            #[cfg($cfg)]
            #[test]
            fn $el() {
                event_loop_steady_state::<backends::$B>();
            }

            #[cfg($cfg)]
            #[test]
            fn $el_changes() {
                event_loop_registration_changes::<backends::$B>();
            }
        )*
    };
}

per_backend! {
    selectio_epoll, Epoll:
        epoll, any_epoll, event_loop_epoll, event_loop_registration_changes_epoll;
    selectio_kqueue, Kqueue:
        kqueue, any_kqueue, event_loop_kqueue, event_loop_registration_changes_kqueue;
    selectio_poll, Poll:
        poll, any_poll, event_loop_poll, event_loop_registration_changes_poll;
    selectio_polling, Polling:
        polling, any_polling, event_loop_polling, event_loop_registration_changes_polling;
    selectio_uring, Uring:
        uring, any_uring, event_loop_uring, event_loop_registration_changes_uring;
}
