//! One test per fixed bug, and the trickiest transitions of the model
//! (`tests/crate::util::model`) as fixed sequences, on every backend: `epoll::…`, `any_poll::…`.
//!
//! A shrunk failure of the model-based tests (`tests/model.rs`) is pasted here as a plain
//! test: `reregister_of_a_reused_fd_number` (poll). The others exercise what
//! random sequences reach rarely: a closed fd's number reused by a new registration, a
//! Oneshot re-armed after firing, a ready fd deregistered, Edge without a drain, a
//! closed peer, coalesced wakes. Each runs in every mode (the model expects
//! `Unsupported` where the backend refuses the mode).
//!
//! Ends (see `crate::util::model::KINDS`): 0/1 a pipe (reader/writer), 2/3 a TCP pair, 4/5 a
//! Unix stream pair, 6/7 a second pipe. Unix only: pipes and Unix sockets.
#![cfg(unix)]

use std::io;

#[allow(unused_imports)]
use selectio::{Mode, Selector};

use crate::util::model::Op::{self, *};
use crate::util::model::{register, reregister, run, Wait, R, RW, W};

const ZERO: Op = Select { wait: Wait::Zero };
const SHORT: Op = Select { wait: Wait::Short };

#[track_caller]
fn check<S: Selector>(new: fn() -> io::Result<S>, ops: &[Op]) {
    if let Err(e) = run(new, ops) {
        panic!("{e}\nsequence: {ops:?}");
    }
}

/// `check`s the sequence `ops` builds for each case (a mode, a pair of ends, …), in order.
#[track_caller]
fn check_each<S: Selector, C>(
    new: fn() -> io::Result<S>,
    cases: impl IntoIterator<Item = C>,
    ops: impl Fn(C) -> Vec<Op>,
) {
    for case in cases {
        check(new, &ops(case));
    }
}

/// `check`s a sequence that registers in Edge mode only, where the backend supports Edge.
#[track_caller]
fn check_where_edge_is_supported<S: Selector>(new: fn() -> io::Result<S>, ops: &[Op]) {
    if new().is_ok_and(|s| s.capabilities().supports(Mode::Edge)) {
        check(new, ops);
    }
}

/// Found by `tests/model.rs` (`poll::oneshot`, `any_poll::level`, `any_poll::oneshot`,
/// 1000 cases each): the TCP end registered as fd N is closed without `deregister` and a
/// new pair reuses N. On epoll (and polling on epoll) `reregister(N)` and
/// `deregister(N)` must be `NotFound`, as N was never registered as this socket. poll(2)
/// knows fds by number only (its documented limitation, see `crate::util::model`): it may act on
/// the stale entry instead (`Ok`: N counts as registered with the new token; the entry
/// keeps the closed socket's identity, so the next `register(N)` may replace it instead
/// of `AlreadyExists`, but the one after must be `AlreadyExists`). The model holds each
/// backend to its outcomes, reports included; `tests/model.rs`'s
/// `adopted_reused_number_is_caught` shows it fails an epoll that adopts.
fn reregister_of_a_reused_fd_number<S: Selector>(new: fn() -> io::Result<S>) {
    for mode in [Mode::Level, Mode::Oneshot] {
        let reused = || {
            vec![
                register(2, R, mode),
                Close { end: 2 },
                Reopen { pair: 1 },
                reregister(2, R, mode, false),
            ]
        };
        let register_twice = [
            register(2, R, mode),
            register(2, RW, mode),
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
            reregister(2, RW, mode, true),
            ZERO,
        ]);
        ops.extend(register_twice);
        check(new, &ops);
        check(
            new,
            &[
                register(4, RW, mode),
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
                register(0, R, mode),
                Write { end: 1, len: 100 },
                ZERO,
                Close { end: 0 },
            ];
            if select_before_reuse {
                ops.push(SHORT);
            }
            ops.extend([
                Reopen { pair: 0 },
                register(0, R, mode),
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
                register(4, RW, mode),
                ZERO,
                Close { end: 4 },
                Reopen { pair: 2 },
                register(4, RW, mode),
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
    check_each(new, Mode::ALL, |mode| {
        vec![
            register(6, RW, mode),
            Close { end: 6 },
            Reopen { pair: 3 },
            Write { end: 7, len: 3 },
            ZERO,
            SHORT,
            register(6, R, mode),
            ZERO,
            reregister(6, R, mode, true),
            ZERO,
        ]
    });
}

/// A Oneshot registration fires once, stays silent on new data, and fires again after
/// `reregister` (same token, then a new one, then a new interest).
fn oneshot_reregistered_after_it_fired<S: Selector>(new: fn() -> io::Result<S>) {
    let oneshot = Mode::Oneshot;
    check_each(new, [(2, 3), (0, 1), (4, 5)], |(r, w)| {
        vec![
            register(r, R, oneshot),
            Write { end: w, len: 10 },
            ZERO,
            SHORT,
            Write { end: w, len: 10 },
            SHORT,
            reregister(r, R, oneshot, false),
            ZERO,
            SHORT,
            reregister(r, RW, oneshot, true),
            ZERO,
            Drain { end: r },
            reregister(r, R, oneshot, false),
            SHORT,
            Write { end: w, len: 5 },
            ZERO,
            reregister(r, R, Mode::Level, false),
            ZERO,
            ZERO,
            Deregister { end: r },
            SHORT,
        ]
    });
}

/// Deregistering a ready fd (before and after it was reported) silences it, even as
/// more data arrives; registering it again reports it at once.
fn deregister_of_a_ready_fd_is_silent<S: Selector>(new: fn() -> io::Result<S>) {
    check_each(new, Mode::ALL, |mode| {
        vec![
            register(4, RW, mode),
            Write { end: 5, len: 100 },
            Deregister { end: 4 },
            SHORT,
            Write { end: 5, len: 10 },
            SHORT,
            register(4, R, mode),
            ZERO,
            Deregister { end: 4 },
            SHORT,
            register(0, R, mode),
            Write { end: 1, len: 1 },
            ZERO,
            Deregister { end: 0 },
            SHORT,
            Close { end: 1 },
            SHORT,
        ]
    });
}

/// Edge reports again on new data although nothing was read, and stays silent otherwise.
fn edge_reports_new_data_without_a_drain<S: Selector>(new: fn() -> io::Result<S>) {
    check_each(new, [(0, 1), (2, 3), (4, 5)], |(r, w)| {
        vec![
            register(r, R, Mode::Edge),
            Write { end: w, len: 1 },
            ZERO,
            SHORT,
            Write { end: w, len: 1 },
            ZERO,
            SHORT,
            reregister(r, RW, Mode::Edge, false),
            ZERO,
            SHORT,
            Drain { end: r },
            SHORT,
        ]
    });
}

/// A closed peer makes the other end readable (end of file), in every mode; for TCP
/// with unread data the close is a reset.
fn closed_peer_is_readable<S: Selector>(new: fn() -> io::Result<S>) {
    let pairs = [(0, 1), (2, 3), (4, 5), (3, 2)];
    let cases = Mode::ALL
        .into_iter()
        .flat_map(|mode| pairs.map(|pair| (mode, pair)));
    check_each(new, cases, |(mode, (a, b))| {
        vec![
            register(a, RW, mode),
            Write { end: a, len: 10 },
            Write { end: b, len: 10 },
            ZERO,
            Close { end: b },
            ZERO,
            Drain { end: a },
            ZERO,
            Write { end: a, len: 10 },
            ZERO,
        ]
    });
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
            register(7, W, Mode::Level),
            Wake,
            ZERO,
            SHORT,
        ],
    );
}

/// Found by `tests/model.rs` (`any_uring::level`, under ASan in CI): a Unix end is closed,
/// its registered peer's number is closed and reused by a new pair without a select in
/// between, and the new pair's peer is closed. The new end, registered Level for
/// READABLE, must then report end of file at the next select.
fn peer_closed_after_a_stale_number_was_reused<S: Selector>(new: fn() -> io::Result<S>) {
    let reg = |end| register(end, R, Mode::Level);
    check(
        new,
        &[
            Close { end: 4 },
            reg(5),
            reregister(5, R, Mode::Level, false),
            Reopen { pair: 2 },
            reg(4),
            reg(6),
            Close { end: 5 },
            reg(0),
            reg(0),
            reg(0),
        ],
    );
}

/// Found by `tests/model.rs` (`any_uring::edge`, 1500 cases): a pipe's reader registered
/// Edge is closed without deregister; its writer, registered too, is closed, so the
/// reader's file (which uring's pending request holds) hangs up. Once that was reported,
/// the number is reused by a new pipe: `reregister` of it must be `NotFound` (the old
/// registration ended with its file), or `Ok` on a backend keyed by number while it
/// still has the closed entry; it must not act on an entry the backend already reported
/// closed.
fn closed_registration_that_hung_up_is_forgotten<S: Selector>(new: fn() -> io::Result<S>) {
    let reg = |end, interest| register(end, interest, Mode::Edge);
    check_where_edge_is_supported(
        new,
        &[
            reg(0, R),
            Close { end: 0 },
            reg(1, W),
            Close { end: 1 },
            ZERO,
            ZERO,
            Reopen { pair: 0 },
            reregister(0, R, Mode::Edge, false),
            reg(0, R),
        ],
    );
}

/// Found by `tests/model.rs` (`uring::edge`, 600 cases): a Unix end registered Edge,
/// reregistered, deregistered and closed; its peer, registered READABLE | WRITABLE Edge
/// afterwards, must report end of file (READABLE) as well as WRITABLE.
fn registered_after_its_peer_closed_reports_the_end<S: Selector>(new: fn() -> io::Result<S>) {
    let reg = |end, interest| register(end, interest, Mode::Edge);
    let rereg = |end, interest| reregister(end, interest, Mode::Edge, false);
    check_where_edge_is_supported(
        new,
        &[
            rereg(0, R),
            reg(0, R),
            Close { end: 0 },
            reg(4, R),
            rereg(4, W),
            Deregister { end: 4 },
            Close { end: 2 },
            Close { end: 4 },
            reg(0, R),
            reg(5, RW),
            reg(0, R),
        ],
    );
}

/// Found by `tests/model.rs` (`uring::edge`, 600 cases): a pipe's writer registered Edge
/// is closed without deregister, its number reused by a new pipe's writer, which is
/// registered again (replacing the stale entry, as the new file is another); that
/// registration must then be deregistered normally.
fn reused_writer_number_registers_and_deregisters<S: Selector>(new: fn() -> io::Result<S>) {
    let reg = |end| register(end, R, Mode::Edge);
    check_where_edge_is_supported(
        new,
        &[
            reg(1),
            reg(2),
            reg(0),
            reg(3),
            reg(7),
            Deregister { end: 0 },
            Reopen { pair: 0 },
            Close { end: 7 },
            reg(6),
            Reopen { pair: 3 },
            Close { end: 6 },
            reregister(7, R, Mode::Edge, false),
        ],
    );
}

/// uring: two reregisters before a select put a poll request that fires at once and its
/// removal in one batch; the removal fails (`EALREADY`) and, unless retried, the request
/// holds the socket for good, so its peer never sees the close after `deregister`.
fn request_replaced_twice_in_one_batch_lets_its_file_go<S: Selector>(new: fn() -> io::Result<S>) {
    let rereg = |interest| reregister(4, interest, Mode::Edge, false);
    check_where_edge_is_supported(
        new,
        &[
            register(4, R, Mode::Edge),
            rereg(W),
            rereg(R),
            ZERO,
            ZERO,
            Deregister { end: 4 },
            Close { end: 4 },
            register(5, RW, Mode::Edge),
            ZERO,
        ],
    );
}

/// One `#[test]` per sequence above, on the backend `$new` creates.
macro_rules! regressions {
    ($sel:ty, $new:expr) => {
        regressions!($new;
            reregister_of_a_reused_fd_number,
            closed_fd_number_reused_by_a_new_registration,
            closed_fd_number_reused_before_any_select,
            oneshot_reregistered_after_it_fired,
            deregister_of_a_ready_fd_is_silent,
            edge_reports_new_data_without_a_drain,
            closed_peer_is_readable,
            wakes_coalesce_and_are_not_lost,
            peer_closed_after_a_stale_number_was_reused,
            closed_registration_that_hung_up_is_forgotten,
            registered_after_its_peer_closed_reports_the_end,
            reused_writer_number_registers_and_deregisters,
            request_replaced_twice_in_one_batch_lets_its_file_go,
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

each_backend!(regressions, any);

/// Faults found by an outside review, each a test that failed before its fix.
#[cfg(target_os = "linux")]
mod review {
    use std::fs::File;
    use std::io::Write;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
    use std::time::Duration;

    use selectio::backends::{Poll, Polling};
    use selectio::{Events, Interest, Mode, Selector, Token};

    use crate::util::reuse::{pipe, registered_pipe};

    /// polling, with pipe A's reader registered as Token(1) and then closed without
    /// deregister while a dup of its file lives (e.g. a forked child's copy), so epoll
    /// keeps (file A, n) in its interest list (epoll(7) Q6) as key 0. Returns the
    /// selector, its events, A's writer, the closed reader's number n and the dup.
    fn polling_with_a_closed_reader_whose_file_lives(
    ) -> (Polling, Events<Polling>, File, RawFd, File) {
        let sel = Polling::new().unwrap();
        let ev = Events::<Polling>::with_capacity(16).unwrap();
        let (ra, wa, n) = registered_pipe(&sel, Token(1), Mode::Level);
        let keep = ra.try_clone().expect("dup");
        drop(ra);
        (sel, ev, wa, n, keep)
    }

    /// Once key 0 is freed: an unrelated pipe C registered as Token(3) takes it, and data
    /// goes into file A only (which nobody registered any more, and which C is not). C's
    /// token must not be reported.
    #[track_caller]
    fn assert_key_of_the_closed_reader_is_not_inherited(
        sel: &Polling,
        ev: &mut Events<Polling>,
        mut wa: &File,
    ) {
        let (rc, _wc) = pipe();
        sel.register(rc.as_fd(), Token(3), Interest::READABLE, Mode::Level)
            .unwrap();
        wa.write_all(b"x").unwrap();
        sel.select(ev, Some(Duration::from_millis(200))).unwrap();
        let tokens: Vec<Token> = ev.iter().map(|e| e.token()).collect();
        assert!(
            !tokens.contains(&Token(3)),
            "fd {} (Token(3)) was never ready, yet reported: {tokens:?} \
             (file A's readiness delivered under an unrelated registration's token)",
            rc.as_raw_fd()
        );
    }

    /// polling on epoll: a registered fd closed while a duplicate of its file lives stays in
    /// epoll's interest list under its old key. The backend frees that key (the
    /// Stale/Replaced path of a reused number) and gives it to an unrelated later
    /// registration, which then receives the old file's readiness under its token.
    #[test]
    fn polling_old_file_events_reach_an_unrelated_registration_through_a_reused_key() {
        let (sel, mut ev, wa, n, keep) = polling_with_a_closed_reader_whose_file_lives();
        // A new pipe B gets number n and registers under Token(2): the entry is stale.
        let (rb, _wb) = pipe();
        assert_eq!(rb.as_raw_fd(), n, "the new reader reuses the number");
        sel.register(rb.as_fd(), Token(2), Interest::READABLE, Mode::Level)
            .unwrap();
        // A select retires key 0 into the free list.
        sel.select(&mut ev, Some(Duration::ZERO)).unwrap();
        assert_key_of_the_closed_reader_is_not_inherited(&sel, &mut ev, &wa);
        drop(keep);
    }

    /// The same through the plainest path: close without deregister (a dup of the file
    /// lives, as in a forked child), then `deregister` — EBADF, which the backend and the
    /// EventLoop take as "closed, forgotten". Key 0 is freed while epoll still holds
    /// (file A, n) under it, and the next registration inherits A's events.
    #[test]
    fn polling_deregister_of_a_closed_fd_frees_a_key_epoll_still_uses() {
        let (sel, mut ev, wa, n, keep) = polling_with_a_closed_reader_whose_file_lives();
        #[allow(unsafe_code)]
        // SAFETY: `n` is closed on purpose (its file lives on in `keep`): the selector
        // must answer it as a number.
        let closed = unsafe { BorrowedFd::borrow_raw(n) };
        assert!(
            sel.deregister(closed).is_err(),
            "deregister of a closed fd is an error"
        );
        sel.select(&mut ev, Some(Duration::ZERO)).unwrap();
        assert_key_of_the_closed_reader_is_not_inherited(&sel, &mut ev, &wa);
        drop(keep);
    }

    /// poll: a fired Oneshot whose peer hung up is parked at fd -1 (poll.rs
    /// `fired_oneshot_woke`), out of poll(2)'s sight for good. When the fd is then closed, no
    /// select ever notices: `deregister` of the closed fd succeeds silently (the contract:
    /// "once a select has run since the close, deregister of the closed fd fails … never a
    /// silent success"), and a new eventfd that reuses the number is refused with advice
    /// ("let a select run after the close") that cannot help.
    #[test]
    fn poll_parked_oneshot_hides_its_close_forever() {
        let sel = Poll::new().unwrap();
        let mut ev = Events::<Poll>::with_capacity(16).unwrap();
        let (r, mut w, n) = registered_pipe(&sel, Token(1), Mode::Oneshot);
        w.write_all(b"x").unwrap();
        sel.select(&mut ev, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(ev.len(), 1, "the Oneshot fires once");
        drop(w); // POLLHUP on the disarmed slot: parked at fd -1
        sel.select(&mut ev, Some(Duration::from_millis(20)))
            .unwrap();
        drop(r); // closed without deregister
        for _ in 0..3 {
            sel.select(&mut ev, Some(Duration::from_millis(20)))
                .unwrap();
        }
        #[allow(unsafe_code)]
        // SAFETY: `n` is closed on purpose: the selector must answer it as a number.
        let closed = unsafe { BorrowedFd::borrow_raw(n) };
        let result = sel.deregister(closed);
        assert!(
            result.is_err(),
            "deregister of fd {n}, closed three selects ago, returned {result:?}"
        );
    }
}
