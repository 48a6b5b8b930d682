//! The echo server example (`examples/echo_server.rs`, compiled in here as it is) on
//! every backend: 64 clients × 1,000 messages of 1 B to 64 KiB through one loop, every
//! byte checked, partial writes forced by 16 KiB socket buffers, clean shutdown, nothing
//! left registered; then every mode the backend offers and the OS's default buffers at a
//! reduced size, and proof that the check catches a single flipped bit.
//!
//! The full run takes about 7 s per backend in a debug build on the 2-core reference
//! machine, so it runs by default.

#[macro_use]
mod util;

#[path = "../examples/echo_server.rs"]
#[allow(dead_code)] // the example's `main` and argument parsing
mod echo;

use std::fmt::Debug;
use std::time::Duration;

use echo::{Config, Echo, Stats};
use selectio::{EventLoop, Mode, Selector};

/// Runs the self-test and checks the loop is empty afterwards, pass or fail.
fn run<S: Selector + Debug>(cfg: &Config) -> Result<Stats, String> {
    let mut el: EventLoop<Echo, S> = EventLoop::new().expect("EventLoop::new");
    let result = echo::selftest(&mut el, cfg);
    let dbg = format!("{el:?}");
    assert!(
        dbg.contains("registered: 0,") && dbg.contains("pending: 0,"),
        "left registered after {result:?}: {dbg}"
    );
    result.map_err(|e| format!("{} {:?}: {e}", el.selector().name(), cfg.mode))
}

fn config(clients: usize, messages: usize, mode: Mode) -> Config {
    Config {
        clients,
        messages,
        mode,
        deadline: Duration::from_secs(120),
        ..Config::default()
    }
}

fn echo_64_clients_1000_messages<S: Selector + Debug>() {
    let cfg = config(64, 1000, Mode::Level);
    let stats = run::<S>(&cfg).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((stats.accepted, stats.clients_done), (64, 64));
    assert_eq!(stats.messages_verified, 64_000);
    assert!(
        stats.server_partial_writes > 0 && stats.client_partial_writes > 0,
        "no partial write to exercise WRITABLE: {stats:?}"
    );
}

fn echo_in_every_supported_mode<S: Selector + Debug>() {
    let caps = S::new().expect("selector").capabilities();
    for mode in Mode::ALL {
        let cfg = config(16, 100, mode);
        match run::<S>(&cfg) {
            Ok(stats) => assert_eq!(stats.messages_verified, 1600, "{mode:?}"),
            Err(e) if !caps.supports(mode) => assert!(e.contains("not supported"), "{e}"),
            Err(e) => panic!("{e}"),
        }
    }
}

fn echo_with_os_default_buffers<S: Selector + Debug>() {
    let cfg = Config {
        buffer: None,
        ..config(16, 100, Mode::Level)
    };
    let stats = run::<S>(&cfg).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.messages_verified, 1600);
}

fn echo_check_catches_one_flipped_bit<S: Selector + Debug>() {
    let cfg = Config {
        corrupt_at: Some(100_000),
        ..config(4, 50, Mode::Level)
    };
    let err = run::<S>(&cfg).expect_err("a corrupted echo passed");
    assert!(err.contains("differs"), "{err}");
}

macro_rules! all_tests {
    ($sel:ty, $new:expr) => {
        #[test]
        fn echo_64_clients_1000_messages() {
            super::echo_64_clients_1000_messages::<$sel>();
        }

        #[test]
        fn echo_in_every_supported_mode() {
            super::echo_in_every_supported_mode::<$sel>();
        }

        #[test]
        fn echo_with_os_default_buffers() {
            super::echo_with_os_default_buffers::<$sel>();
        }

        #[test]
        fn echo_check_catches_one_flipped_bit() {
            super::echo_check_catches_one_flipped_bit::<$sel>();
        }
    };
}

each_backend!(all_tests);
