//! Turns the target into `cfg` names: which backends exist here, and the OS traits the
//! code needs where an item exists on some targets only (a libc constant or function).
//!
//! This is the one place that lists which `target_os` has which kernel interface or
//! quirk; the rest of the crate (and its tests) asks `cfg(selectio_epoll)`,
//! `cfg(selectio_apple)` and friends. Where both branches compile everywhere, a plain
//! `const` bool in `src/sys/mod.rs` does instead. A backend feature on a target without
//! that interface compiles to nothing, so features stay additive. Each name says why
//! here; the line that uses it says what the quirk is, with the evidence.

use std::env;
use std::path::Path;

/// The install prefix of libkqueue to build the kqueue backend against, on Linux.
const LIBKQUEUE_ENV: &str = "SELECTIO_LIBKQUEUE";

fn main() {
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let family = env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    let feature =
        |name: &str| env::var_os(format!("CARGO_FEATURE_{}", name.to_uppercase())).is_some();
    let os_in = |list: &[&str]| list.contains(&os.as_str());
    let unix = family.split(',').any(|f| f == "unix");
    let windows = family.split(',').any(|f| f == "windows");

    // Apple's platforms: one kernel (XNU) and one libc.
    let apple = os_in(&["macos", "ios", "tvos", "watchos", "visionos"]);
    // The Linux kernel, with glibc/musl or Android's bionic.
    let linux_like = os_in(&["linux", "android"]);
    // The four BSDs. Apple stays apart: it lacks SOCK_NONBLOCK, accept4(2), pipe2(2) and
    // a public MSG_NOSIGNAL.
    let bsd = os_in(&["freebsd", "dragonfly", "netbsd", "openbsd"]);
    // epoll(7): Linux and Android.
    let has_epoll = linux_like;
    // kqueue(2): Apple platforms and the BSDs.
    let has_kqueue = apple || bsd;
    // socket(2)/socketpair(2) take SOCK_NONBLOCK|SOCK_CLOEXEC and accept4(2) exists
    // (their man pages; socket2 offers `Type::nonblocking` and `Socket::accept4` there).
    let atomic_sock_flags = linux_like || bsd || os == "illumos";
    // send(2) takes MSG_NOSIGNAL (each system's send(2); Apple has no public one).
    let msg_nosignal = linux_like || bsd || os_in(&["illumos", "solaris"]);
    // The polling crate falls back to poll(2) where it has neither epoll, event ports,
    // kqueue nor IOCP (polling 3.11 src/lib.rs, its cfg_if! of backends).
    let polling_on_poll =
        unix && !(linux_like || has_kqueue || os_in(&["illumos", "solaris", "redox"]));
    // SO_REUSEPORT exists (socket2's `set_reuse_port`: every Unix but these).
    let reuseport = unix && !os_in(&["solaris", "illumos", "cygwin"]);

    // kqueue on Linux through libkqueue, a userspace kqueue/kevent over epoll, when
    // SELECTIO_LIBKQUEUE names its install prefix: a test build only (the README's
    // "kqueue on Linux"). Its `struct kevent` and constants come from `src/sys/libkqueue.rs`,
    // as the C library on Linux has none of them.
    let libkqueue = match env::var_os(LIBKQUEUE_ENV) {
        Some(prefix) if !prefix.is_empty() && os == "linux" && feature("kqueue") => {
            link_libkqueue(prefix.as_ref());
            true
        }
        _ => false,
    };

    let epoll = feature("epoll") && has_epoll;
    let kqueue = feature("kqueue") && (has_kqueue || libkqueue);
    let poll = feature("poll") && unix;
    // polling runs on every Unix we target and on Windows, where it is always on.
    let polling = (feature("polling") && unix) || windows;
    // io_uring(7) poll requests: Linux only (Android's seccomp policy blocks io_uring).
    let uring = feature("uring") && os == "linux";
    // ppoll(2), which takes a timespec: Linux, Android and the BSDs (not macOS).
    let ppoll = linux_like || bsd;

    let cfgs = [
        ("selectio_epoll", epoll),
        ("selectio_kqueue", kqueue),
        ("selectio_libkqueue", libkqueue),
        ("selectio_poll", poll),
        ("selectio_polling", polling),
        ("selectio_uring", uring),
        // Code of ours reads or writes descriptors with libc: a backend's wake-up channel,
        // or the conformance suite's eventfd (Linux).
        (
            "selectio_fd_io",
            epoll || kqueue || poll || uring || (feature("conformance") && linux_like),
        ),
        // A backend that guards `select` with `selector::SelectLock` (the poll backend has
        // a lock of its own, which also hands its array to registering threads).
        ("selectio_select_lock", epoll || kqueue || polling || uring),
        // A backend of ours hands the kernel its timeout as a `timespec`.
        (
            "selectio_timespec",
            epoll || kqueue || uring || (poll && ppoll),
        ),
        ("selectio_polling_on_poll", polling_on_poll),
        ("selectio_ppoll", ppoll),
        // The OS has kqueue(2) whatever the features: the polling crate runs on it here.
        ("selectio_kqueue_os", has_kqueue),
        ("selectio_apple", apple),
        ("selectio_linux_like", linux_like),
        ("selectio_atomic_sock_flags", atomic_sock_flags),
        ("selectio_msg_nosignal", msg_nosignal),
        ("selectio_reuseport", reuseport),
        // EVFILT_READ's NOTE_FILE_POLL: FreeBSD only (kqueue(2), `filt_vfsread`).
        ("selectio_note_file_poll", os == "freebsd"),
        // EVFILT_READ's NOTE_EOF: OpenBSD only (kqueue(2), `filt_ufsread`).
        ("selectio_note_eof", os == "openbsd"),
        // `struct kevent` has `uint32_t filter, flags`: NetBSD only (sys/event.h).
        ("selectio_kevent_u32", os == "netbsd"),
    ];
    for (cfg, on) in cfgs {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if on {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed={LIBKQUEUE_ENV}");
}

/// Links libkqueue from `prefix` (its `lib` or `lib64`, as cmake's GNUInstallDirs chose),
/// with an rpath so the test binaries find it at run time without LD_LIBRARY_PATH.
fn link_libkqueue(prefix: &Path) {
    let lib = ["lib", "lib64"]
        .iter()
        .map(|dir| prefix.join(dir))
        .find(|dir| dir.join("libkqueue.so").exists())
        .unwrap_or_else(|| {
            panic!(
                "{LIBKQUEUE_ENV}={}: no lib/libkqueue.so or lib64/libkqueue.so there \
                 (the README's \"kqueue on Linux\" says how to build it)",
                prefix.display()
            )
        });
    let lib = lib.display();
    println!("cargo::rustc-link-search=native={lib}");
    println!("cargo::rustc-link-lib=dylib=kqueue");
    println!("cargo::rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo::rerun-if-changed={lib}/libkqueue.so");
}
