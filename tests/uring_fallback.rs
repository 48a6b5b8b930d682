//! Where io_uring is switched off, `Uring::new()` says why and `AnySelector` falls back.
//!
//! io_uring is made unavailable for real, the way containers do it: a seccomp filter
//! that fails `io_uring_setup(2)` with `EPERM` (`conformance::hooks::deny_io_uring_setup`),
//! installed on a thread of its own, since a filter cannot be removed. The `AnySelector`
//! check reads `SELECTIO_BACKEND`, which is process-wide, so it runs in a child process:
//! this test binary again, running only that test, with the variable set.
#![cfg(all(
    selectio_uring,
    feature = "conformance",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

use std::io;
use std::process::Command;

use selectio::conformance::hooks::deny_io_uring_setup;
use selectio::{backends, AnySelector, Backend, Selector};

/// Set in the child process that runs the `AnySelector` check.
const CHILD: &str = "SELECTIO_TEST_URING_DENIED";

/// Runs `f` on a new thread whose io_uring_setup(2) fails with EPERM.
fn without_io_uring<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        deny_io_uring_setup().expect("install the seccomp filter");
        f()
    })
    .join()
    .expect("the denied thread")
}

#[test]
fn uring_new_names_the_cause_when_io_uring_is_denied() {
    let err = without_io_uring(backends::Uring::new).expect_err("io_uring is denied");
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
    let msg = err.to_string();
    for word in ["uring", "EPERM", "io_uring_disabled", "seccomp"] {
        assert!(msg.contains(word), "{msg:?} does not say {word:?}");
    }
    // The filter is the thread's only: here io_uring still works.
    backends::Uring::new().expect("io_uring outside the denied thread");
}

#[test]
fn any_selector_falls_back_from_uring_and_says_why() {
    if std::env::var_os(CHILD).is_some() {
        let chosen = without_io_uring(AnySelector::from_env).expect("a fallback backend");
        let first = Backend::available().next().expect("a backend");
        assert_eq!(chosen.backend(), first, "{chosen:?}");
        assert_eq!(chosen.name(), first.name());
        let (tried, why) = &chosen.fallbacks()[0];
        assert_eq!(*tried, Backend::Uring);
        assert_eq!(why.kind(), io::ErrorKind::PermissionDenied, "{why}");
        assert!(why.to_string().contains("seccomp"), "{why}");
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([
            "--exact",
            "any_selector_falls_back_from_uring_and_says_why",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env(selectio::backends::BACKEND_ENV, "uring")
        .output()
        .expect("run the child");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}
