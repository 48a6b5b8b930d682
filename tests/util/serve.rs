//! The server side of the tests that load an example's handler (`tests/echo_server.rs`,
//! `tests/http_hello_requests.rs`): its loop, run on a thread of its own while the
//! clients run on the test's thread, then stopped as a stop signal stops it.
#![allow(dead_code)]

use std::fmt::Debug;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use selectio::{EventLoop, Handler, Selector};

/// Serves on a new loop on `S` with the handler `listen` makes, after saying on `ready`
/// whether `listen` worked. Runs iterations through `iteration` (a `run_once` with the
/// wait it is given, measured or not) until `done` is set and only the listener is left
/// registered (every connection closed), failing after `deadline`; then stops the
/// handler as a stop signal (SIGTERM) does, and requires the loop to end empty. Returns
/// the handler, for what it counted.
pub fn serve<H: Handler<S>, S: Selector + Debug>(
    listen: impl FnOnce(&mut EventLoop<H, S>) -> io::Result<H>,
    ready: mpsc::Sender<Result<(), String>>,
    done: &AtomicBool,
    deadline: Duration,
    mut iteration: impl FnMut(&mut EventLoop<H, S>, &mut H, Option<Duration>) -> io::Result<()>,
) -> Result<H, String> {
    let mut el: EventLoop<H, S> = EventLoop::new().map_err(|e| e.to_string())?;
    let handler = listen(&mut el);
    let _ = ready.send(handler.as_ref().map(|_| ()).map_err(|e| e.to_string()));
    let mut handler = handler.map_err(|e| e.to_string())?;
    let start = Instant::now();
    while !(done.load(Ordering::Acquire) && el.registered() == 1) {
        if start.elapsed() > deadline {
            return Err(format!("the server did not finish: {el:?}"));
        }
        let tick = Some(Duration::from_millis(20));
        iteration(&mut el, &mut handler, tick).map_err(|e| e.to_string())?;
    }
    handler.signal(&mut el, 15, 1); // a stop signal (SIGTERM)
    el.run(&mut handler).map_err(|e| e.to_string())?;
    match el.registered() {
        0 => Ok(handler),
        n => Err(format!("{n} sources left registered by the server")),
    }
}

/// Runs `server` on a thread of its own, handing it the sender on which it says whether
/// it listens (as [`serve`] does); once it does, runs `client` on this thread. Then sets
/// `done`, which the server watches, and joins it. Both results, the server's first; the
/// client's is the server's error when it could not listen.
pub fn with_server_thread<R: Send + 'static, T>(
    done: &AtomicBool,
    server: impl FnOnce(mpsc::Sender<Result<(), String>>) -> Result<R, String> + Send + 'static,
    client: impl FnOnce() -> Result<T, String>,
) -> (Result<R, String>, Result<T, String>) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = thread::spawn(move || server(ready_tx));
    let client = match ready_rx.recv().unwrap() {
        Ok(()) => client(),
        Err(e) => Err(e),
    };
    done.store(true, Ordering::Release);
    (server.join().expect("the server thread panicked"), client)
}
