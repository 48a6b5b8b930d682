//! The conformance suite (`selectio::conformance`) on every backend this host has, one
//! `#[test]` per property and backend: `epoll::timeout_none_blocks`,
//! `any_poll::wakes_coalesce`, …

#[macro_use]
mod util;

#[allow(unused_imports)]
use selectio::backends;
#[allow(unused_imports)]
use selectio::{conformance, AnySelector, Backend, Selector};

/// Calls `$m!($($args)*; <every property name>)`: the one list of names in this file.
macro_rules! with_properties {
    ($m:ident!($($args:tt)*)) => {
        $m! {
            $($args)*;
                pipe_readable_after_write,
                pipe_writer_is_writable,
                pipe_reader_sees_writer_close,
                pipe_writer_sees_reader_close,
                tcp_readable_and_writable,
                tcp_peer_shutdown_is_read_closed,
                tcp_peer_reset_is_reported,
                unix_stream_readable_and_writable,
                unix_peer_close_is_read_closed,
                both_interests_reported_for_one_token,
                level_repeats_until_drained,
                edge_fires_again_only_on_new_data,
                oneshot_fires_once_until_reregister,
                oneshot_both_directions_reports_once_until_reregister,
                already_ready_is_reported_in_every_mode,
                reregister_replaces_token,
                reregister_replaces_interest,
                reregister_replaces_mode,
                deregister_then_ready_is_silent,
                duplicate_register_is_already_exists,
                reregister_unknown_is_not_found,
                deregister_unknown_is_not_found,
                reserved_token_is_invalid_input,
                unsupported_edge_is_refused,
                invalid_fd_is_an_error,
                regular_file_is_refused_or_always_ready,
                failed_calls_do_not_disturb_registrations,
                selector_own_fds_are_refused,
                close_while_registered_does_not_spin,
                reused_fd_number_can_be_registered,
                reused_fd_number_before_any_select,
                timeout_none_blocks,
                timeout_zero_does_not_block,
                timeout_is_never_early,
                timeout_sub_millisecond_is_never_early,
                timeout_duration_max_does_not_overflow,
                capacity_limits_events_and_nothing_starves,
                events_with_zero_capacity_is_invalid_input,
                wake_before_select_returns,
                wake_during_select_returns,
                wakes_coalesce,
                wake_after_consumed_wake_is_not_lost,
                wake_is_never_a_user_event,
                wake_does_not_hide_ready_fds,
                register_from_other_thread_applies_to_blocked_select,
                reregister_from_other_thread_applies_to_blocked_select,
                deregister_from_other_thread_applies_to_blocked_select,
                concurrent_select_is_an_error,
                signal_interrupts_select_without_losing_wake,
                create_drop_cycles_leak_no_fd,
        }
    };
}

/// One `#[test]` per property, each running it on the backend `$new` creates.
macro_rules! tests {
    ($new:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                super::conformance::$name($new);
            }
        )*
    };
}

/// The names of the properties this file instantiates.
macro_rules! names {
    (; $($name:ident),* $(,)?) => {
        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

with_properties!(names!());

/// A property added to the suite but not to this file would go untested.
#[test]
fn every_property_is_instantiated() {
    let listed: Vec<&str> = conformance::all::<AnySelector>()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        listed, NAMES,
        "conformance::all() and tests/conformance.rs disagree"
    );
}

/// Every property on the backend `$new` creates.
macro_rules! conformance_tests {
    ($sel:ty, $new:expr) => {
        with_properties!(tests!($new));
    };
}

each_backend!(conformance_tests, any);
