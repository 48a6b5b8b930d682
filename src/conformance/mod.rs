//! The backend conformance suite (feature `conformance`): the checklist of
//! [`selector`](crate::selector), one function per item, with the same names.
//!
//! Each property takes the backend's constructor, calls it for every selector it needs,
//! and panics with a message naming the backend (`Selector::name`) and the property when
//! the backend breaks the contract. Properties use real pipes, loopback TCP pairs and Unix
//! stream pairs; they tolerate spurious events except where they check silence, check
//! timing only as "never early" (and "a wake-up returns within seconds"), and leave
//! nothing registered. A property that cannot apply on this system (Unix sockets on
//! Windows, say) prints why and passes.
//!
//! The properties that hand a selector closed, reused, invalid or foreign numbers (through
//! borrows that break `BorrowedFd`'s contract on purpose), and so [`all`] and
//! [`run_all`], run only on a selector that implements the `unsafe` trait
//! [`FdsAsNumbers`]: its implementer promises to use descriptors only as numbers. Every
//! backend of this crate does.
//!
//! Run everything on your backend, from a test:
//!
//! ```no_run
//! use selectio::{conformance, AnySelector, Selector};
//!
//! conformance::run_all(<AnySelector as Selector>::new);
//! ```
//!
//! or one `#[test]` per property, as `tests/conformance.rs` does:
//! `conformance::pipe_readable_after_write(MySelector::new)`. [`all`] lists them all.
//!
//! Properties run in parallel test threads of one process. Those that close registered
//! fds, reuse fd numbers or count open fds run alone: each property holds a process-wide
//! lock, shared or exclusive, while it runs.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

pub use crate::sys::alloc::{count_allocations, CountingAllocator};
pub use crate::sys::FdsAsNumbers;

mod closing;
pub mod hooks;
mod modes;
mod readiness;
mod registration;
mod sources;
mod threads;
mod timeouts;
mod util;
mod wake;

/// Declares the list of properties once: re-exports them and builds [`all`].
macro_rules! properties {
    ($($module:ident :: $name:ident),* $(,)?) => {
        $(pub use $module::$name;)*

        /// Every property, by name, in checklist order.
        pub fn all<S: FdsAsNumbers>() -> Vec<(&'static str, fn(fn() -> io::Result<S>))> {
            vec![$((stringify!($name), $module::$name::<S> as fn(fn() -> io::Result<S>))),*]
        }
    };
}

properties! {
    readiness::pipe_readable_after_write,
    readiness::pipe_writer_is_writable,
    readiness::pipe_reader_sees_writer_close,
    readiness::pipe_writer_sees_reader_close,
    readiness::tcp_readable_and_writable,
    readiness::tcp_peer_shutdown_is_read_closed,
    readiness::tcp_peer_reset_is_reported,
    readiness::unix_stream_readable_and_writable,
    readiness::unix_peer_close_is_read_closed,
    readiness::both_interests_reported_for_one_token,
    modes::level_repeats_until_drained,
    modes::edge_fires_again_only_on_new_data,
    modes::oneshot_fires_once_until_reregister,
    modes::oneshot_both_directions_reports_once_until_reregister,
    modes::already_ready_is_reported_in_every_mode,
    registration::reregister_replaces_token,
    registration::reregister_replaces_interest,
    registration::reregister_replaces_mode,
    registration::deregister_then_ready_is_silent,
    registration::duplicate_register_is_already_exists,
    registration::reregister_unknown_is_not_found,
    registration::deregister_unknown_is_not_found,
    registration::reserved_token_is_invalid_input,
    registration::unsupported_edge_is_refused,
    registration::invalid_fd_is_an_error,
    registration::regular_file_is_refused_or_always_ready,
    registration::failed_calls_do_not_disturb_registrations,
    registration::selector_own_fds_are_refused,
    closing::close_while_registered_does_not_spin,
    closing::reused_fd_number_can_be_registered,
    closing::reused_fd_number_before_any_select,
    timeouts::timeout_none_blocks,
    timeouts::timeout_zero_does_not_block,
    timeouts::timeout_is_never_early,
    timeouts::timeout_sub_millisecond_is_never_early,
    timeouts::timeout_duration_max_does_not_overflow,
    timeouts::capacity_limits_events_and_nothing_starves,
    timeouts::events_with_zero_capacity_is_invalid_input,
    wake::wake_before_select_returns,
    wake::wake_during_select_returns,
    wake::wakes_coalesce,
    wake::wake_after_consumed_wake_is_not_lost,
    wake::wake_is_never_a_user_event,
    wake::wake_does_not_hide_ready_fds,
    threads::register_from_other_thread_applies_to_blocked_select,
    threads::reregister_from_other_thread_applies_to_blocked_select,
    threads::deregister_from_other_thread_applies_to_blocked_select,
    threads::concurrent_select_is_an_error,
    threads::signal_interrupts_select_without_losing_wake,
    threads::create_drop_cycles_leak_no_fd,
}

/// Runs every property on the backend `new` creates, one after the other, printing each
/// result; panics at the end listing the properties that failed.
pub fn run_all<S: FdsAsNumbers>(new: fn() -> io::Result<S>) {
    let backend = new().map_or_else(|e| format!("(new() failed: {e})"), |s| s.name().to_string());
    let properties = all::<S>();
    let mut failed = Vec::new();
    for (name, property) in &properties {
        let start = Instant::now();
        match panic::catch_unwind(AssertUnwindSafe(|| property(new))) {
            Ok(()) => println!(
                "conformance [{backend}] {name} ... ok ({:.0?})",
                start.elapsed()
            ),
            Err(_) => {
                println!("conformance [{backend}] {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    if !failed.is_empty() {
        panic!(
            "[{backend}] {} of {} conformance properties failed: {}",
            failed.len(),
            properties.len(),
            failed.join(", ")
        );
    }
    println!(
        "conformance [{backend}]: all {} properties passed",
        properties.len()
    );
}
