//! The sleep handshake driven through a real `EventLoop` on a selector without a kernel,
//! with a thread scheduled at the one place a race needs it.

use std::sync::atomic::Ordering::SeqCst;
use std::thread;
use std::time::Duration;

use super::fake::{Fake, Got};
use crate::EventLoop;

/// The most common worker: spawned with the loop's only `Sender`, it sends once and
/// ends. Here it runs after the loop found the queue empty and before it decides how to
/// sleep, the window in which a last `Sender` dropped used to leave the loop asleep with
/// the message queued.
#[test]
fn last_sender_dropped_after_the_empty_check_does_not_leave_the_loop_asleep() {
    let mut el: EventLoop<Got, Fake> = EventLoop::new().unwrap();
    let tx = el.channel();
    super::at_sleep_decision(move || {
        thread::spawn(move || tx.send(7).unwrap()).join().unwrap();
    });
    let mut got = Got::default();
    el.run_once(&mut got, Some(Duration::from_secs(3))).unwrap();
    let fake = el.selector();
    assert_eq!(
        fake.would_block.load(SeqCst),
        0,
        "the loop would have slept with a message queued and no wake ({} wakes)",
        fake.wakes.load(SeqCst)
    );
    assert_eq!(got.0, [7]);
}
