//! One test per fixed bug, and the trickiest transitions of the model
//! (`tests/model_util`) as fixed sequences, on every backend: `epoll::…`, `any_poll::…`.
//!
//! A shrunk failure of the model-based tests (`tests/model.rs`) is pasted here as a plain
//! test: `reregister_of_a_reused_fd_number` (poll). The others exercise what
//! random sequences reach rarely: a closed fd's number reused by a new registration, a
//! Oneshot re-armed after firing, a ready fd deregistered, Edge without a drain, a
//! closed peer, coalesced wakes. Each runs in every mode (the model expects
//! `Unsupported` where the backend refuses the mode).
//!
//! Ends (see `model_util::KINDS`): 0/1 a pipe (reader/writer), 2/3 a TCP pair, 4/5 a
//! Unix stream pair, 6/7 a second pipe. Unix only: pipes and Unix sockets.
#![cfg(unix)]

#[macro_use]
mod model_util;

use std::io;

#[allow(unused_imports)]
use selectio::{Mode, Selector};

use model_util::Op::{self, *};
use model_util::{run, Wait, R, RW, W};

const ZERO: Op = Select { wait: Wait::Zero };
const SHORT: Op = Select { wait: Wait::Short };

#[track_caller]
fn check<S: Selector>(new: fn() -> io::Result<S>, ops: &[Op]) {
    if let Err(e) = run(new, ops) {
        panic!("{e}\nsequence: {ops:?}");
    }
}

/// Found by `tests/model.rs` (`poll::oneshot`, `any_poll::level`, `any_poll::oneshot`,
/// 1000 cases each): the TCP end registered as fd N is closed without `deregister` and a
/// new pair reuses N. On epoll (and polling on epoll) `reregister(N)` and
/// `deregister(N)` must be `NotFound`, as N was never registered as this socket. poll(2)
/// knows fds by number only (its documented limitation, see `model_util`): it may act on
/// the stale entry instead (`Ok`: N counts as registered with the new token; the entry
/// keeps the closed socket's identity, so the next `register(N)` may replace it instead
/// of `AlreadyExists`, but the one after must be `AlreadyExists`). The model holds each
/// backend to its outcomes, reports included; `tests/model.rs`'s
/// `adopted_reused_number_is_caught` shows it fails an epoll that adopts.
fn reregister_of_a_reused_fd_number<S: Selector>(new: fn() -> io::Result<S>) {
    for mode in [Mode::Level, Mode::Oneshot] {
        let reused = || {
            vec![
                Register {
                    end: 2,
                    interest: R,
                    mode,
                },
                Close { end: 2 },
                Reopen { pair: 1 },
                Reregister {
                    end: 2,
                    interest: R,
                    mode,
                    new_token: false,
                },
            ]
        };
        let register_twice = [
            Register {
                end: 2,
                interest: R,
                mode,
            },
            Register {
                end: 2,
                interest: RW,
                mode,
            },
            Write { end: 3, len: 1 },
            ZERO,
        ];
        check(new, &[reused(), register_twice.to_vec()].concat());
        // Reported (poll: under the adopted token) or not (NotFound), re-armed, then
        // registered again: an adopted entry keeps the closed socket's identity.
        let mut ops = reused();
        ops.extend([
            Write { end: 3, len: 5 },
            ZERO,
            Reregister {
                end: 2,
                interest: RW,
                mode,
                new_token: true,
            },
            ZERO,
        ]);
        ops.extend(register_twice);
        check(new, &ops);
        check(
            new,
            &[
                Register {
                    end: 4,
                    interest: RW,
                    mode,
                },
                Close { end: 4 },
                Reopen { pair: 2 },
                Deregister { end: 4 },
                ZERO,
                Write { end: 5, len: 1 },
                SHORT,
            ],
        );
    }
}

/// A registered pipe reader closed without deregister; its number is reused by the new
/// pipe's reader (lowest free number), which is registered: only the new token is
/// reported, and the old one at most once (error/closed) when a select runs between.
fn closed_fd_number_reused_by_a_new_registration<S: Selector>(new: fn() -> io::Result<S>) {
    for mode in Mode::ALL {
        let reuse = |select_before_reuse: bool| {
            let mut ops = vec![
                Register {
                    end: 0,
                    interest: R,
                    mode,
                },
                Write { end: 1, len: 100 },
                ZERO,
                Close { end: 0 },
            ];
            if select_before_reuse {
                ops.push(SHORT);
            }
            ops.extend([
                Reopen { pair: 0 },
                Register {
                    end: 0,
                    interest: R,
                    mode,
                },
                SHORT,
                Write { end: 1, len: 10 },
                ZERO,
                Drain { end: 0 },
                SHORT,
            ]);
            ops
        };
        check(new, &reuse(true));
        check(new, &reuse(false));
        // A socket, both directions: the new one is writable at once.
        check(
            new,
            &[
                Register {
                    end: 4,
                    interest: RW,
                    mode,
                },
                ZERO,
                Close { end: 4 },
                Reopen { pair: 2 },
                Register {
                    end: 4,
                    interest: RW,
                    mode,
                },
                ZERO,
                Write { end: 5, len: 7 },
                ZERO,
            ],
        );
    }
}

/// poll(2)'s documented limitation, modelled: the number of a closed registered fd is
/// reused by an unregistered fd and a select runs before anything registers it.
fn closed_fd_number_reused_before_any_select<S: Selector>(new: fn() -> io::Result<S>) {
    for mode in Mode::ALL {
        check(
            new,
            &[
                Register {
                    end: 6,
                    interest: RW,
                    mode,
                },
                Close { end: 6 },
                Reopen { pair: 3 },
                Write { end: 7, len: 3 },
                ZERO,
                SHORT,
                Register {
                    end: 6,
                    interest: R,
                    mode,
                },
                ZERO,
                Reregister {
                    end: 6,
                    interest: R,
                    mode,
                    new_token: true,
                },
                ZERO,
            ],
        );
    }
}

/// A Oneshot registration fires once, stays silent on new data, and fires again after
/// `reregister` (same token, then a new one, then a new interest).
fn oneshot_reregistered_after_it_fired<S: Selector>(new: fn() -> io::Result<S>) {
    let oneshot = Mode::Oneshot;
    for (r, w) in [(2, 3), (0, 1), (4, 5)] {
        check(
            new,
            &[
                Register {
                    end: r,
                    interest: R,
                    mode: oneshot,
                },
                Write { end: w, len: 10 },
                ZERO,
                SHORT,
                Write { end: w, len: 10 },
                SHORT,
                Reregister {
                    end: r,
                    interest: R,
                    mode: oneshot,
                    new_token: false,
                },
                ZERO,
                SHORT,
                Reregister {
                    end: r,
                    interest: RW,
                    mode: oneshot,
                    new_token: true,
                },
                ZERO,
                Drain { end: r },
                Reregister {
                    end: r,
                    interest: R,
                    mode: oneshot,
                    new_token: false,
                },
                SHORT,
                Write { end: w, len: 5 },
                ZERO,
                Reregister {
                    end: r,
                    interest: R,
                    mode: Mode::Level,
                    new_token: false,
                },
                ZERO,
                ZERO,
                Deregister { end: r },
                SHORT,
            ],
        );
    }
}

/// Deregistering a ready fd (before and after it was reported) silences it, even as
/// more data arrives; registering it again reports it at once.
fn deregister_of_a_ready_fd_is_silent<S: Selector>(new: fn() -> io::Result<S>) {
    for mode in Mode::ALL {
        check(
            new,
            &[
                Register {
                    end: 4,
                    interest: RW,
                    mode,
                },
                Write { end: 5, len: 100 },
                Deregister { end: 4 },
                SHORT,
                Write { end: 5, len: 10 },
                SHORT,
                Register {
                    end: 4,
                    interest: R,
                    mode,
                },
                ZERO,
                Deregister { end: 4 },
                SHORT,
                Register {
                    end: 0,
                    interest: R,
                    mode,
                },
                Write { end: 1, len: 1 },
                ZERO,
                Deregister { end: 0 },
                SHORT,
                Close { end: 1 },
                SHORT,
            ],
        );
    }
}

/// Edge reports again on new data although nothing was read, and stays silent otherwise.
fn edge_reports_new_data_without_a_drain<S: Selector>(new: fn() -> io::Result<S>) {
    for (r, w) in [(0, 1), (2, 3), (4, 5)] {
        check(
            new,
            &[
                Register {
                    end: r,
                    interest: R,
                    mode: Mode::Edge,
                },
                Write { end: w, len: 1 },
                ZERO,
                SHORT,
                Write { end: w, len: 1 },
                ZERO,
                SHORT,
                Reregister {
                    end: r,
                    interest: RW,
                    mode: Mode::Edge,
                    new_token: false,
                },
                ZERO,
                SHORT,
                Drain { end: r },
                SHORT,
            ],
        );
    }
}

/// A closed peer makes the other end readable (end of file), in every mode; for TCP
/// with unread data the close is a reset.
fn closed_peer_is_readable<S: Selector>(new: fn() -> io::Result<S>) {
    for mode in Mode::ALL {
        for (a, b) in [(0, 1), (2, 3), (4, 5), (3, 2)] {
            check(
                new,
                &[
                    Register {
                        end: a,
                        interest: RW,
                        mode,
                    },
                    Write { end: a, len: 10 },
                    Write { end: b, len: 10 },
                    ZERO,
                    Close { end: b },
                    ZERO,
                    Drain { end: a },
                    ZERO,
                    Write { end: a, len: 10 },
                    ZERO,
                ],
            );
        }
    }
}

/// Wakes coalesce (one early return), and a wake after a consumed one is not lost.
fn wakes_coalesce_and_are_not_lost<S: Selector>(new: fn() -> io::Result<S>) {
    check(
        new,
        &[
            Wake,
            Wake,
            Wake,
            SHORT,
            SHORT,
            Wake,
            SHORT,
            Register {
                end: 7,
                interest: W,
                mode: Mode::Level,
            },
            Wake,
            ZERO,
            SHORT,
        ],
    );
}

/// One `#[test]` per sequence above, on the backend `$new` creates.
macro_rules! regressions {
    ($new:expr) => {
        regressions!($new;
            reregister_of_a_reused_fd_number,
            closed_fd_number_reused_by_a_new_registration,
            closed_fd_number_reused_before_any_select,
            oneshot_reregistered_after_it_fired,
            deregister_of_a_ready_fd_is_silent,
            edge_reports_new_data_without_a_drain,
            closed_peer_is_readable,
            wakes_coalesce_and_are_not_lost,
        );
    };
    ($new:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                super::$name($new);
            }
        )*
    };
}

every_backend!(regressions);
