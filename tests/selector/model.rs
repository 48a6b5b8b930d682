//! Model-based tests: random sequences of register / reregister / deregister / write /
//! drain / close / reopen / wake / select over pipes, TCP loopback pairs and Unix stream
//! pairs, checked after every `select` against the model in `crate::util::model` (what the
//! Selector contract says must and must not be reported), on every backend and for
//! every mode: `epoll::level`, `any_poll::edge` (Edge refused: `Unsupported`), …
//!
//! 64 cases of up to 40 operations per backend and mode; `PROPTEST_CASES=n` changes the
//! count. A failure prints the shrunk sequence as pasteable Rust: it goes to
//! `tests/regressions.rs` as a plain test. Failure persistence is off.
//!
//! Unix only: pipes and Unix stream sockets (Windows has its own tests).
#![cfg(unix)]

use std::io;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

#[allow(unused_imports)]
use selectio::backends;
use selectio::{Interest, Mode, Selector};

use crate::util::model::{run, Op, Wait, ENDS, PAIRS, R, RW, W, WRITE_MAX};

/// Operations per sequence, at least (shrinking goes below).
const MIN_OPS: usize = 10;
/// Operations per sequence, at most.
const MAX_OPS: usize = 40;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    }
}

fn interest() -> impl Strategy<Value = Interest> {
    prop_oneof![Just(R), Just(W), Just(RW)]
}

/// `mode` four times in five, any mode (supported or not) otherwise.
fn mode(mode: Mode) -> impl Strategy<Value = Mode> {
    prop_oneof![4 => Just(mode), 1 => prop::sample::select(Mode::ALL.to_vec())]
}

fn op(m: Mode) -> impl Strategy<Value = Op> {
    let end = || 0..ENDS;
    let wait = prop_oneof![3 => Just(Wait::Zero), 1 => Just(Wait::Short)];
    prop_oneof![
        5 => (end(), interest(), mode(m))
            .prop_map(|(end, interest, mode)| Op::Register { end, interest, mode }),
        3 => (end(), interest(), mode(m), any::<bool>()).prop_map(
            |(end, interest, mode, new_token)| Op::Reregister { end, interest, mode, new_token }
        ),
        2 => end().prop_map(|end| Op::Deregister { end }),
        5 => (end(), 1..=WRITE_MAX).prop_map(|(end, len)| Op::Write { end, len }),
        3 => end().prop_map(|end| Op::Drain { end }),
        2 => end().prop_map(|end| Op::Close { end }),
        2 => (0..PAIRS).prop_map(|pair| Op::Reopen { pair }),
        1 => Just(Op::Wake),
        8 => wait.prop_map(|wait| Op::Select { wait }),
    ]
}

/// Sequences of up to [`MAX_OPS`] operations, steered (see [`steer`]).
fn ops(m: Mode) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec((op(m), any::<u8>()), MIN_OPS..=MAX_OPS).prop_map(steer)
}

/// Points most operations at ends where something happens: reregister, deregister,
/// drain and close mostly at a registered end or a reused number (an end reopened after
/// its registered predecessor was closed: poll(2) has a stale entry there), writes
/// mostly at such an end's peer, reopen at a pair with a closed end. Uniform ends would
/// mostly test `NotFound`. The registered set is guessed without the backend (a refused
/// Edge counts too, a reregister of a reused number too); a wrong guess only makes a
/// less interesting, still valid, sequence.
fn steer(raw: Vec<(Op, u8)>) -> Vec<Op> {
    let mut open = [true; ENDS];
    let mut registered = [false; ENDS];
    // Closed while registered, then (once reopened) a reused number.
    let mut stale = [false; ENDS];
    let mut out = Vec::with_capacity(raw.len());
    for (mut op, pick) in raw {
        let regs: Vec<usize> = (0..ENDS)
            .filter(|&e| registered[e] || (open[e] && stale[e]))
            .collect();
        let target = (pick % 4 != 0 && !regs.is_empty()).then(|| regs[pick as usize % regs.len()]);
        match &mut op {
            Op::Reregister { end, .. }
            | Op::Deregister { end }
            | Op::Drain { end }
            | Op::Close { end } => {
                *end = target.unwrap_or(*end);
            }
            Op::Write { end, .. } => *end = target.map_or(*end, |e| e ^ 1),
            Op::Reopen { pair } => {
                let closed: Vec<usize> = (0..PAIRS)
                    .filter(|&p| !open[2 * p] || !open[2 * p + 1])
                    .collect();
                if !closed.is_empty() && pick % 4 != 0 {
                    *pair = closed[pick as usize % closed.len()];
                }
            }
            _ => {}
        }
        match op {
            Op::Register { end, .. } if open[end] => (registered[end], stale[end]) = (true, false),
            Op::Reregister { end, .. } if open[end] && stale[end] => {
                (registered[end], stale[end]) = (true, false);
            }
            Op::Deregister { end } => (registered[end], stale[end]) = (false, false),
            Op::Close { end } if open[end] => {
                stale[end] = registered[end];
                (open[end], registered[end]) = (false, false);
            }
            Op::Reopen { pair } => {
                let closed = !open[2 * pair] || !open[2 * pair + 1];
                for e in [2 * pair, 2 * pair + 1] {
                    if closed {
                        stale[e] |= registered[e];
                        (open[e], registered[e]) = (true, false);
                    }
                }
            }
            _ => {}
        }
        out.push(op);
    }
    out
}

fn check<S: Selector>(new: fn() -> io::Result<S>, ops: &[Op]) -> Result<(), TestCaseError> {
    run(new, ops).map_err(TestCaseError::fail)
}

/// `level`, `edge` and `oneshot` on the backend that `$new` creates.
macro_rules! model_tests {
    ($sel:ty, $new:expr) => {
        proptest! {
            #![proptest_config(config())]

            #[test]
            fn level(ops in ops(Mode::Level)) {
                check($new, &ops)?;
            }

            #[test]
            fn edge(ops in ops(Mode::Edge)) {
                check($new, &ops)?;
            }

            #[test]
            fn oneshot(ops in ops(Mode::Oneshot)) {
                check($new, &ops)?;
            }
        }
    };
}

each_backend!(model_tests, any);

/// The model is not vacuous: an epoll selector with one deliberate bug fails it.
#[cfg(selectio_epoll)]
mod mutants {
    use proptest::test_runner::{TestError, TestRunner};
    use selectio::backends::Epoll;

    use super::*;
    use crate::util::evloop::{Bug, CountingSelector};

    /// epoll, wrapped to commit one [`Bug`].
    type Mutant = CountingSelector<Epoll>;

    fn mutant(bug: Bug) -> io::Result<Mutant> {
        Mutant::new().map(|sel| sel.with_bug(bug))
    }

    /// Runs the model on the mutant `new` creates (committing `bug`) with sequences
    /// favouring `mode`; it must fail.
    fn caught(new: fn() -> io::Result<Mutant>, bug: Bug, mode: Mode) {
        let config = ProptestConfig {
            max_shrink_iters: 0,
            ..config()
        };
        let mut runner = TestRunner::new(config);
        let result = runner.run(&ops(mode), |ops| check(new, &ops));
        match result {
            Err(TestError::Fail(why, _)) => println!("caught: {why}"),
            other => panic!("the model missed bug {bug:?} ({mode:?}): {other:?}"),
        }
    }

    /// One test per bug: `name: Bug, mode` runs `caught` on a mutant committing `Bug`.
    macro_rules! caught_tests {
        ($($name:ident: $bug:ident, $mode:ident;)*) => {
            $(
                #[test]
                fn $name() {
                    fn new() -> io::Result<Mutant> {
                        mutant(Bug::$bug)
                    }
                    caught(new, Bug::$bug, Mode::$mode);
                }
            )*
        };
    }

    caught_tests! {
        ignored_deregister_is_caught: IgnoreDeregister, Level;
        oneshot_as_level_is_caught: OneshotAsLevel, Oneshot;
        edge_as_level_is_caught: EdgeAsLevel, Edge;
        dropped_event_is_caught: DropLastEvent, Level;
    }

    /// epoll is held to `NotFound` for a reregister of a closed registered fd's reused
    /// number (the sequence of `tests/regressions.rs`, `reregister_of_a_reused_fd_number`).
    #[test]
    fn adopted_reused_number_is_caught() {
        use crate::util::model::Op::*;
        use crate::util::model::{register, reregister};
        for mode in [Mode::Level, Mode::Oneshot] {
            let ops = [
                register(2, R, mode),
                Close { end: 2 },
                Reopen { pair: 1 },
                reregister(2, R, mode, false),
            ];
            match run(|| mutant(Bug::AdoptUnknown), &ops) {
                Err(why) if why.contains("reregister") => println!("caught: {why}"),
                other => panic!("the model missed an adopting reregister ({mode:?}): {other:?}"),
            }
        }
    }
}
