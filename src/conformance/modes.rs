//! Level, Edge and Oneshot, and sources already ready when registered.

use std::io;
use std::time::Duration;

use super::util::{Cx, Source, CAPACITY, T1};
use crate::selector::Support;
use crate::{Interest, Mode, Ready, Selector};

/// Level reports on every `select` while the source is ready, and stops once drained.
pub fn level_repeats_until_drained<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "level_repeats_until_drained");
    let (r, _w) = cx.reported_pipe(&mut ev, Mode::Level);
    cx.reported_each(&mut ev, T1, Ready::READABLE, 3);
    cx.drain(&r);
    // A spurious report is allowed; one on every select after draining is a busy loop.
    let again = (0..3)
        .filter(|_| cx.select(&mut ev, Some(Duration::from_millis(30))).has(T1))
        .count();
    cx.check(again <= 1, || {
        format!("the drained reader was still reported by {again} of 3 selects")
    });
    cx.deregister(r.src());
}

/// Edge reports once per new readiness: no event without new data, one after a write.
/// Where Edge is unsupported, `register(…, Mode::Edge)` is `Unsupported`.
pub fn edge_fires_again_only_on_new_data<S: Selector>(new: fn() -> io::Result<S>) {
    let cx = Cx::new(new, "edge_fires_again_only_on_new_data");
    if !cx.caps().supports(Mode::Edge) {
        return edge_is_refused(&cx);
    }
    let mut ev = cx.events(CAPACITY);
    let (r, w) = cx.watched_pipe(Mode::Edge);
    for (round, byte) in [b"a", b"b"].into_iter().enumerate() {
        cx.step(format_args!("write {}", round + 1));
        cx.put(&w, byte);
        cx.reported_once(
            &mut ev,
            T1,
            Ready::READABLE,
            "Edge reports once per new readiness (no data was read or written)",
        );
    }
    cx.drain(&r);
    cx.deregister(r.src());
}

/// Checks that an Edge registration is refused with `Unsupported` naming the backend,
/// registers nothing, and that a refused `reregister` to Edge keeps the registration.
#[track_caller]
pub(crate) fn edge_is_refused<S: Selector>(cx: &Cx<S>) {
    cx.check(
        cx.caps().support(Mode::Edge) == Support::Unsupported,
        || "capabilities() say Edge is unsupported but support(Edge) disagrees".into(),
    );
    let mut ev = cx.events(CAPACITY);
    let (r, w) = cx.pipe();
    let result = cx.sel.register(r.src(), T1, Interest::READABLE, Mode::Edge);
    cx.err_kind(
        result,
        io::ErrorKind::Unsupported,
        "register(.., Mode::Edge)",
    );
    let result = cx.sel.deregister(r.src());
    cx.err_kind(
        result,
        io::ErrorKind::NotFound,
        "deregister after a refused Edge register",
    );
    cx.register(r.src(), T1, Interest::READABLE, Mode::Level);
    let result = cx
        .sel
        .reregister(r.src(), T1, Interest::READABLE, Mode::Edge);
    cx.err_kind(
        result,
        io::ErrorKind::Unsupported,
        "reregister(.., Mode::Edge)",
    );
    cx.put(&w, b"x");
    cx.reported_each(&mut ev, T1, Ready::READABLE, 2);
    cx.deregister(r.src());
}

/// Oneshot reports once, then stays silent (even on new data) but registered until
/// `reregister` arms it again.
pub fn oneshot_fires_once_until_reregister<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "oneshot_fires_once_until_reregister");
    let (r, w) = cx.reported_pipe(&mut ev, Mode::Oneshot);
    cx.silent(
        &mut ev,
        T1,
        "a fired Oneshot registration is disarmed until reregister",
    );
    cx.put(&w, b"y");
    cx.silent(
        &mut ev,
        T1,
        "a fired Oneshot registration stays disarmed on new data",
    );
    cx.reregister(r.src(), T1, Interest::READABLE, Mode::Oneshot);
    cx.reported_once(
        &mut ev,
        T1,
        Ready::READABLE,
        "the re-armed Oneshot registration fired already",
    );
    cx.drain(&r);
    // Disarmed, but still registered: deregister succeeds.
    cx.deregister(r.src());
}

/// A READABLE|WRITABLE Oneshot registration reports once (its events in one batch are one
/// report: kqueue reports each direction apart), then nothing, even when the other
/// direction becomes ready, until `reregister` arms it again. `EventLoop::connect`
/// registers this combination.
pub fn oneshot_both_directions_reports_once_until_reregister<S: Selector>(
    new: fn() -> io::Result<S>,
) {
    let (cx, mut ev) =
        Cx::with_events(new, "oneshot_both_directions_reports_once_until_reregister");
    let (a, b) = cx.tcp_pair();
    // Writable at once, not readable: the first report is the writing direction.
    cx.register(a.src(), T1, Interest::BOTH, Mode::Oneshot);
    cx.wait_for(&mut ev, T1, Ready::WRITABLE);
    cx.step("a byte arrives after the report");
    cx.put(&b, b"x");
    cx.arrived(&a);
    cx.silent(
        &mut ev,
        T1,
        "a fired READABLE|WRITABLE Oneshot registration is disarmed in both directions \
         until reregister",
    );
    cx.step("reregister");
    cx.reregister(a.src(), T1, Interest::BOTH, Mode::Oneshot);
    cx.wait_for_any(&mut ev, T1, Ready::READABLE | Ready::WRITABLE);
    cx.silent(
        &mut ev,
        T1,
        "the re-armed READABLE|WRITABLE Oneshot registration fired already",
    );
    cx.drain(&a);
    cx.deregister(a.src());
}

/// A source already ready when registered is reported by the next `select`s, in every
/// supported mode, for reading and for writing.
pub fn already_ready_is_reported_in_every_mode<S: Selector>(new: fn() -> io::Result<S>) {
    let (cx, mut ev) = Cx::with_events(new, "already_ready_is_reported_in_every_mode");
    for mode in cx.caps().modes() {
        cx.step(format_args!("mode {mode:?}"));
        let (r, w) = cx.pipe();
        cx.put(&w, b"x");
        cx.register(r.src(), T1, Interest::READABLE, mode);
        cx.wait_for(&mut ev, T1, Ready::READABLE);
        cx.deregister(r.src());
        cx.register(w.src(), T1, Interest::WRITABLE, mode);
        cx.wait_for(&mut ev, T1, Ready::WRITABLE);
        cx.deregister(w.src());
    }
}
