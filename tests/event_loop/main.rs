//! The EventLoop on every backend: dispatch and registration (`event_loop`), timers
//! (`timers`), the cross-thread channel (`notify`), and race-free connect/listen
//! (`race_free`).

#[macro_use]
#[path = "../util/mod.rs"]
mod util;

mod event_loop;
mod notify;
mod race_free;
mod timers;
