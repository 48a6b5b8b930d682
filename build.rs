//! Turns the backend features into `cfg`s that say "this backend exists on this target".
//!
//! This is the one place that lists which `target_os` has which kernel interface; the rest
//! of the crate (and its tests) asks `cfg(selectio_epoll)` and friends. A backend feature
//! on a target without that interface compiles to nothing, so features stay additive.

use std::env;

fn main() {
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let family = env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    let feature =
        |name: &str| env::var_os(format!("CARGO_FEATURE_{}", name.to_uppercase())).is_some();
    let unix = family.split(',').any(|f| f == "unix");
    let windows = family.split(',').any(|f| f == "windows");

    // epoll(7): Linux and Android.
    let has_epoll = matches!(os.as_str(), "linux" | "android");
    // kqueue(2): Apple platforms and the BSDs.
    let has_kqueue = matches!(
        os.as_str(),
        "macos"
            | "ios"
            | "tvos"
            | "watchos"
            | "visionos"
            | "freebsd"
            | "netbsd"
            | "openbsd"
            | "dragonfly"
    );

    let enabled = [
        ("selectio_epoll", feature("epoll") && has_epoll),
        ("selectio_kqueue", feature("kqueue") && has_kqueue),
        ("selectio_poll", feature("poll") && unix),
        // polling runs on every Unix we target and on Windows, where it is always on.
        ("selectio_polling", (feature("polling") && unix) || windows),
    ];
    for (cfg, on) in enabled {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if on {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    println!("cargo::rerun-if-changed=build.rs");
}
