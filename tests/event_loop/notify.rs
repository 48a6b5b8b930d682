//! The notify channel through the `EventLoop` on every backend: order, `Full` and
//! recovery, `Closed`, per-iteration limit, many threads, wake coalescing, failed wakes
//! and message destructors.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::evloop::*;
use selectio::{EventLoop, Handler, NotifyError, Selector, Sender};

/// Messages handed to `notify` in each iteration.
fn per_iteration(log: &Log) -> Vec<usize> {
    (0..log.iteration)
        .map(|i| {
            log.iteration_calls(i)
                .iter()
                .filter(|c| matches!(c, Call::Notify(_)))
                .count()
        })
        .collect()
}

fn messages_arrive_in_send_order<S: TestSelector>() {
    let mut el: El<S> = EventLoop::new().unwrap();
    let tx = el.channel();
    for m in 0..1000 {
        tx.send(m).unwrap();
    }
    let mut h = Recorder::new().on_notify(|el, _, m| {
        if m == 999 {
            el.shutdown();
        }
    });
    el.run(&mut h).unwrap();
    assert_eq!(h.log.messages(), (0..1000).collect::<Vec<_>>());
    // At most `messages_per_tick` (default 256) per iteration.
    assert_eq!(per_iteration(&h.log), [256, 256, 256, 232]);
    assert_nothing_registered(&el);
}

fn full_then_recovers_after_the_loop_drains<S: TestSelector>() {
    let mut el: El<S> = EventLoop::builder().notify_capacity(4).build().unwrap();
    let tx = el.channel();
    for m in 0..4 {
        tx.send(m).unwrap();
    }
    match tx.send(4) {
        Err(NotifyError::Full(4)) => {}
        other => panic!("expected Full(4), got {other:?}"),
    }
    let err = tx.clone().send(5).unwrap_err();
    assert_eq!(format!("{err:?}"), "Full(..)");
    assert!(err.to_string().contains("full"), "{err}");
    assert_eq!(err.into_inner(), 5);
    let mut h = Recorder::new();
    el.run_once(&mut h, LONG).unwrap();
    assert_eq!(h.log.messages(), [0, 1, 2, 3]);
    for m in 4..8 {
        tx.send(m).unwrap();
    }
    el.run_once(&mut h, LONG).unwrap();
    assert_eq!(h.log.messages(), (0..8).collect::<Vec<_>>());
    assert_nothing_registered(&el);
}

fn messages_per_tick_bounds_each_iteration<S: TestSelector>() {
    let mut el: El<S> = EventLoop::builder()
        .notify_capacity(10)
        .messages_per_tick(3)
        .build()
        .unwrap();
    let tx = el.channel();
    for m in 0..10 {
        tx.send(m).unwrap();
    }
    let mut h = Recorder::new();
    let start = Instant::now();
    // Queued messages make the wait zero: none of these blocks.
    for _ in 0..4 {
        el.run_once(&mut h, None).unwrap();
    }
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(per_iteration(&h.log), [3, 3, 3, 1]);
    assert_eq!(h.log.messages(), (0..10).collect::<Vec<_>>());
    assert_nothing_registered(&el);
}

fn closed_after_the_loop_is_dropped_returns_the_message<S: TestSelector>() {
    let el: El<S> = EventLoop::new().unwrap();
    let tx = el.channel();
    tx.send(1).unwrap();
    drop(el);
    match tx.send(9) {
        Err(NotifyError::Closed(9)) => {}
        other => panic!("expected Closed(9), got {other:?}"),
    }
    let err = tx.send(10).unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");
    assert_eq!(err.into_inner(), 10);
}

/// Sends `per_thread` messages from each of `threads` threads (retrying on `Full`) and
/// checks every message arrives exactly once, in order per sender.
fn many_threads_deliver_every_message_once<S: TestSelector>(threads: u64, per_thread: u64) {
    let total = threads * per_thread;
    let next = RefCell::new(vec![0u64; threads as usize]);
    let received = Cell::new(0u64);
    let mut el: El<S> = EventLoop::new().unwrap();
    let senders: Vec<_> = (0..threads)
        .map(|t| {
            let tx = el.channel();
            thread::spawn(move || {
                for seq in 0..per_thread {
                    let mut msg = t << 32 | seq;
                    while let Err(e) = tx.send(msg) {
                        assert!(matches!(e, NotifyError::Full(_)), "{e:?}");
                        msg = e.into_inner();
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let mut h = Recorder::new().on_notify(|el, log, m| {
        log.calls.clear(); // keep memory flat
        let (t, seq) = ((m >> 32) as usize, m & 0xffff_ffff);
        let mut next = next.borrow_mut();
        assert_eq!(seq, next[t], "thread {t}: lost, duplicated or reordered");
        next[t] += 1;
        received.set(received.get() + 1);
        if received.get() == total {
            el.shutdown();
        }
    });
    el.run(&mut h).unwrap();
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(received.get(), total);
    assert!(next.borrow().iter().all(|n| *n == per_thread));
    assert_nothing_registered(&el);
}

fn four_threads_deliver_1m_messages_exactly_once<S: TestSelector>() {
    many_threads_deliver_every_message_once::<S>(4, 250_000);
}

fn wakes_coalesce_in_a_burst<S: TestSelector>() {
    const N: u64 = 10_000;
    let mut el: El<CountingSelector<S>> = EventLoop::new().unwrap();
    let tx = el.channel();
    let (blocking, blocked) = mpsc::channel();
    // The loop announces its first (blocking) select; the burst starts once it sleeps.
    el.selector()
        .on_next_select(move || blocking.send(()).unwrap());
    let burst = thread::spawn(move || {
        blocked.recv().unwrap();
        // Let the loop get into the kernel (the one sleep: another thread must block).
        thread::sleep(Duration::from_millis(20));
        for mut m in 0..N {
            while let Err(e) = tx.send(m) {
                m = e.into_inner();
                thread::yield_now();
            }
        }
    });
    let mut h = Recorder::new().on_notify(|el, log, m| {
        if m == N - 1 {
            el.shutdown();
        }
        log.calls.clear();
    });
    el.run(&mut h).unwrap();
    burst.join().unwrap();
    let wakes = el.selector().wakes() as u64;
    assert!(wakes >= 1, "the sleeping loop was woken");
    assert!(wakes * 10 <= N, "{wakes} wakes for {N} messages");
    assert_nothing_registered(&el);
}

fn no_wake_while_the_loop_is_awake<S: TestSelector>() {
    let mut el: El<CountingSelector<S>> = EventLoop::new().unwrap();
    let tx = el.channel();
    for m in 0..100 {
        tx.send(m).unwrap();
    }
    // Messages sent from inside callbacks find the loop awake too.
    let mut h = Recorder::new().on_notify(move |_, _, m| {
        if m < 100 {
            tx.send(m + 100).unwrap();
        }
    });
    while h.log.messages().len() < 200 {
        el.run_once(&mut h, LONG).unwrap();
    }
    assert_eq!(el.selector().wakes(), 0);
    assert_nothing_registered(&el);
}

fn send_while_the_loop_blocks_wakes_it<S: TestSelector>() {
    let mut el: El<CountingSelector<S>> = EventLoop::new().unwrap();
    let tx = el.channel();
    // Sent from inside the select call itself: after the loop committed to sleeping.
    let tx1 = tx.clone();
    el.selector().on_next_select(move || tx1.send(1).unwrap());
    let mut h = Recorder::new();
    el.run_once(&mut h, None).unwrap();
    assert_eq!(h.log.messages(), [1]);
    // From another thread while the loop is blocked in the kernel.
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        tx.send(2).unwrap();
    });
    while h.log.messages().len() < 2 {
        el.run_once(&mut h, None).unwrap();
    }
    sender.join().unwrap();
    assert_eq!(h.log.messages(), [1, 2]);
    assert_eq!(el.selector().wakes(), 2);
    assert_nothing_registered(&el);
}

fn failed_wake_returns_the_message_and_the_next_send_wakes<S: TestSelector>() {
    let mut el: El<CountingSelector<S>> = EventLoop::new().unwrap();
    let tx = el.channel();
    let result = Arc::new(Mutex::new(None));
    let seen = result.clone();
    el.selector().fail_next_wakes(1);
    el.selector().on_next_select(move || {
        let failed = tx.send(5).unwrap_err();
        let shown = failed.to_string();
        *seen.lock().unwrap() = Some((
            matches!(failed, NotifyError::Io(..)),
            shown,
            failed.into_inner(),
        ));
        // The failed send left the loop asleep: this one must wake it.
        tx.send(6).unwrap();
    });
    let mut h = Recorder::new();
    let start = Instant::now();
    el.run_once(&mut h, LONG).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the second send did not wake"
    );
    let (was_io, shown, back) = result.lock().unwrap().take().unwrap();
    assert!(was_io && shown.contains("waking"), "{shown}");
    assert_eq!(back, 5);
    assert_eq!(h.log.messages(), [6]);
    assert_nothing_registered(&el);
}

/// A message that counts its drops; it may hold a sender to send from its destructor.
struct Counted {
    drops: Arc<AtomicUsize>,
    resend: Option<Sender<Counted>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        if let Some(tx) = self.resend.take() {
            let inner = Counted {
                drops: self.drops.clone(),
                resend: None,
            };
            // The loop is being dropped: the send fails and hands the message back.
            assert!(matches!(tx.send(inner), Err(NotifyError::Closed(_))));
        }
    }
}

#[derive(Debug)]
struct Sink;

impl<S: Selector> Handler<S> for Sink {
    type Timeout = ();
    type Message = Counted;
}

fn queued_messages_dropped_with_the_loop_run_their_destructors<S: TestSelector>() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut el: EventLoop<Sink, S> = EventLoop::builder().messages_per_tick(3).build().unwrap();
    let tx = el.channel();
    let msg = |resend| Counted {
        drops: drops.clone(),
        resend,
    };
    for _ in 0..9 {
        tx.send(msg(None)).unwrap();
    }
    // Its destructor sends on the channel while the loop is being dropped: no deadlock.
    tx.send(msg(Some(tx.clone()))).unwrap();
    el.run_once(&mut Sink, ZERO).unwrap();
    assert_eq!(
        drops.load(SeqCst),
        3,
        "delivered messages are dropped by the handler"
    );
    drop(el);
    // 10 sent, plus the one the destructor tried to send.
    assert_eq!(drops.load(SeqCst), 11);
    let back = tx.send(msg(None)).unwrap_err().into_inner();
    drop(back);
    assert_eq!(drops.load(SeqCst), 12);
}

/// A `Sender` that outlives its loop holds only what it needs to say `Closed`: the
/// loop's selector, and with it the selector's fds, go with the loop.
fn a_sender_outliving_its_loop_keeps_no_selector<S: TestSelector>() {
    let el: El<CountingSelector<S>> = EventLoop::new().unwrap();
    let tx = el.channel();
    let clone = tx.clone();
    let selector = el.selector().alive();
    drop(el);
    assert!(
        selector.upgrade().is_none(),
        "a live Sender keeps the dropped loop's selector open"
    );
    assert!(matches!(tx.send(1), Err(NotifyError::Closed(1))));
    assert!(matches!(clone.send(2), Err(NotifyError::Closed(2))));
}

fn sender_is_send_sync_and_clone<S: TestSelector>() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>(_: &T) {}
    let el: El<S> = EventLoop::new().unwrap();
    let tx = el.channel();
    check(&tx);
    assert!(format!("{tx:?}").contains("Sender"));
}

macro_rules! all_tests {
    ($sel:ty, $new:expr) => {
        backend_tests!($sel;
            messages_arrive_in_send_order,
            full_then_recovers_after_the_loop_drains,
            messages_per_tick_bounds_each_iteration,
            closed_after_the_loop_is_dropped_returns_the_message,
            four_threads_deliver_1m_messages_exactly_once,
            wakes_coalesce_in_a_burst,
            no_wake_while_the_loop_is_awake,
            send_while_the_loop_blocks_wakes_it,
            failed_wake_returns_the_message_and_the_next_send_wakes,
            queued_messages_dropped_with_the_loop_run_their_destructors,
            a_sender_outliving_its_loop_keeps_no_selector,
            sender_is_send_sync_and_clone,
        );
    };
}

each_backend!(all_tests);

/// `?` in a function returning `io::Result`: each error keeps a kind a caller can act on.
#[test]
fn notify_and_timer_errors_convert_to_io_errors() {
    use selectio::{NotifyError, TimerError};
    let kind = |e: NotifyError<u8>| std::io::Error::from(e).kind();
    assert_eq!(kind(NotifyError::Full(1)), std::io::ErrorKind::WouldBlock);
    assert_eq!(kind(NotifyError::Closed(1)), std::io::ErrorKind::BrokenPipe);
    let wake = std::io::Error::from_raw_os_error(libc_ebadf());
    let io = std::io::Error::from(NotifyError::Io(wake, 1u8));
    assert_eq!(
        io.raw_os_error(),
        Some(libc_ebadf()),
        "the wake's own error"
    );
    let timer = std::io::Error::from(TimerError::Overflow);
    assert_eq!(timer.kind(), std::io::ErrorKind::Other);
    assert!(timer.to_string().contains("timer store is full"), "{timer}");
}

/// EBADF's number, the same on every Unix and Windows' CRT.
fn libc_ebadf() -> i32 {
    9
}
