//! loom models of the notify channel: a real `EventLoop` on the fake selector, whose
//! `select` blocks until woken, so a lost wake-up is a deadlock loom reports.

use std::sync::Arc as StdArc;

use loom::thread;

use super::fake::{Fake, Got};
use super::NotifyError;
use crate::sync::atomic::Ordering::SeqCst;
use crate::sync::model;
use crate::{EventLoop, Handler};

fn event_loop<H: Handler<Fake>>(alive: StdArc<()>) -> EventLoop<H, Fake> {
    EventLoop::builder()
        .events_capacity(1)
        .notify_capacity(4)
        .timer_wheel_slots(1)
        .timer_capacity(1)
        .build_with(Fake::new(true, alive))
        .unwrap()
}

/// Runs the loop, blocking when it has nothing to do, until it has handled `n` messages.
fn run_until(el: &mut EventLoop<Got, Fake>, got: &mut Got, n: usize) {
    while got.0.len() < n {
        el.run_once(got, None).unwrap();
    }
}

/// Senders wake only a loop that announced it sleeps, once per sleep.
#[track_caller]
fn assert_wakes_answer_sleeps(el: &EventLoop<Got, Fake>) {
    let fake = el.selector();
    let (wakes, sleeps) = (fake.wakes.load(SeqCst), fake.sleeps.load(SeqCst));
    assert!(wakes <= sleeps, "{wakes} wakes for {sleeps} sleeps");
}

/// Spawn, send, drop: the worker holds the loop's only `Sender`, so the loop may take
/// either path, the handshake (the worker still lives) or none (its `Sender` is gone).
#[test]
fn loom_last_sender_dropped_after_sending() {
    model("loom_last_sender_dropped_after_sending", 3, || {
        let mut el = event_loop(StdArc::new(()));
        let tx = el.channel();
        let worker = thread::spawn(move || tx.send(1).unwrap());
        let mut got = Got::default();
        run_until(&mut el, &mut got, 1);
        worker.join().unwrap();
        assert_wakes_answer_sleeps(&el);
    });
}

/// Two workers send while the loop keeps a `Sender` of its own: every sleep takes the
/// handshake, and the two sends wake it at most once per sleep.
#[test]
fn loom_two_senders_wake_a_sleeping_loop_once() {
    model("loom_two_senders_wake_a_sleeping_loop_once", 3, || {
        let mut el = event_loop(StdArc::new(()));
        let tx = el.channel();
        let workers: Vec<_> = (1..=2)
            .map(|m| {
                let tx = tx.clone();
                thread::spawn(move || tx.send(m).unwrap())
            })
            .collect();
        let mut got = Got::default();
        run_until(&mut el, &mut got, 2);
        workers.into_iter().for_each(|w| w.join().unwrap());
        assert_wakes_answer_sleeps(&el);
        got.0.sort_unstable();
        assert_eq!(got.0, [1, 2]);
    });
}

/// Takes messages that are `Arc`s, to count who still holds them.
#[derive(Debug)]
struct Sink;

impl Handler<Fake> for Sink {
    type Timeout = ();
    type Message = StdArc<()>;
}

/// The loop is dropped while a worker sends: the send is refused as `Closed` or its
/// message is dropped with the queue, and the `Sender` that outlives the loop does not
/// keep the loop's selector.
#[test]
fn loom_loop_dropped_while_a_sender_sends() {
    model("loom_loop_dropped_while_a_sender_sends", 3, || {
        let alive = StdArc::new(());
        let el = event_loop::<Sink>(alive.clone());
        let tx = el.channel();
        let msg = StdArc::new(());
        let sent = msg.clone();
        let worker = thread::spawn(move || {
            match tx.send(sent) {
                Ok(()) | Err(NotifyError::Closed(_)) => {}
                Err(e) => panic!("send to a closing loop: {e}"),
            }
            tx
        });
        drop(el);
        assert_eq!(
            StdArc::strong_count(&alive),
            1,
            "a live Sender keeps the dropped loop's selector"
        );
        let tx = worker.join().unwrap();
        assert!(matches!(
            tx.send(StdArc::new(())),
            Err(NotifyError::Closed(_))
        ));
        assert_eq!(StdArc::strong_count(&msg), 1, "the message was not dropped");
    });
}
