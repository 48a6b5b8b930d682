//! The hand-written peers: a raw epoll(7) loop (the reference, "the physical limit") and
//! a raw poll(2) loop, both running the shared per-connection logic of `echo.rs`; and the
//! thin epoll wrapper the load client uses too.
//!
//! Examples are not library code: the crate keeps `unsafe` to `backends/` and `src/sys/`,
//! but these peers exist to call the kernel with nothing in between. Every block says why
//! it is sound.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use crate::echo::{self, Change, ServerArgs, ServerStats, Slab, EVENTS, LISTENER};
use crate::idle::{IdleArgs, IdleResult, PingPipe};

pub const IN: u32 = libc::EPOLLIN as u32;
pub const OUT: u32 = libc::EPOLLOUT as u32;
pub const ET: u32 = libc::EPOLLET as u32;
pub const ONESHOT: u32 = libc::EPOLLONESHOT as u32;
/// Error and hang-up: reported whatever the interest; the connection reads to see which.
pub const ERR_HUP: u32 = (libc::EPOLLERR | libc::EPOLLHUP) as u32;

/// An epoll instance and its event buffer.
pub struct RawEpoll {
    ep: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl RawEpoll {
    pub fn new(capacity: usize) -> io::Result<RawEpoll> {
        // SAFETY: plain system call; the result is checked before it is owned.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` is a new descriptor nobody else owns.
        let ep = unsafe { OwnedFd::from_raw_fd(fd) };
        let events = vec![libc::epoll_event { events: 0, u64: 0 }; capacity];
        Ok(RawEpoll { ep, events })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, flags: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: flags,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the call; a bad `fd` is an error.
        cvt(unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    pub fn add(&self, fd: RawFd, token: u64, flags: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, flags)
    }

    pub fn modify(&self, fd: RawFd, token: u64, flags: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, flags)
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// epoll_wait(2); a signal counts as zero events.
    pub fn wait(&mut self, timeout_ms: libc::c_int) -> io::Result<usize> {
        let cap = self.events.len() as libc::c_int;
        // SAFETY: `events` has room for `cap` entries, which the kernel fills.
        let n = unsafe {
            libc::epoll_wait(
                self.ep.as_raw_fd(),
                self.events.as_mut_ptr(),
                cap,
                timeout_ms,
            )
        };
        match cvt(n) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Token and flags of event `i` of the last wait.
    pub fn event(&self, i: usize) -> (u64, u32) {
        let ev = self.events[i];
        (ev.u64, ev.events)
    }
}

/// The raw epoll echo server: edge-triggered (`--mode edge`) or level-triggered.
pub fn serve_epoll(args: ServerArgs) -> io::Result<ServerStats> {
    let mut ep = RawEpoll::new(EVENTS)?;
    let et = match (args.oneshot, args.edge) {
        (true, _) => ONESHOT,
        (false, true) => ET,
        (false, false) => 0,
    };
    ep.add(args.listener.as_raw_fd(), LISTENER as u64, IN)?;
    let mut slab = Slab::new(args.connections);
    while !slab.done() {
        let n = ep.wait(-1)?;
        for i in 0..n {
            let (token, flags) = ep.event(i);
            let token = token as usize;
            if token == LISTENER {
                while let Some(stream) = echo::accept(&args.listener)? {
                    let fd = stream.as_raw_fd();
                    let token = slab.insert(stream);
                    ep.add(fd, token as u64, IN | et)?;
                }
                continue;
            }
            let Some(conn) = slab.get(token) else {
                continue;
            };
            let readable = flags & (IN | ERR_HUP) != 0;
            let fd = conn.stream.as_raw_fd();
            match conn.ready(readable, flags & OUT != 0) {
                // EPOLLONESHOT: one epoll_ctl(MOD) per event re-arms it.
                Change::Keep if args.oneshot => {
                    let interest = if conn.pending() { OUT } else { IN };
                    ep.modify(fd, token as u64, interest | et)?
                }
                Change::Keep => {}
                Change::WantWrite => ep.modify(fd, token as u64, OUT | et)?,
                Change::WantRead => ep.modify(fd, token as u64, IN | et)?,
                Change::Close => {
                    ep.delete(fd)?;
                    slab.remove(token);
                }
            }
        }
    }
    Ok(ServerStats {
        errors: slab.errors,
        allocations: None,
    })
}

/// A pollfd array that is never rebuilt: slot `i` is token `i`, a closed slot gets fd -1
/// (poll(2) skips negative descriptors).
pub struct RawPoll {
    fds: Vec<libc::pollfd>,
}

pub const POLLIN: i16 = libc::POLLIN;
pub const POLLOUT: i16 = libc::POLLOUT;

impl RawPoll {
    pub fn with_capacity(n: usize) -> RawPoll {
        RawPoll {
            fds: Vec::with_capacity(n),
        }
    }

    /// Adds `fd` in the next slot (its token).
    pub fn push(&mut self, fd: RawFd, events: i16) -> usize {
        self.fds.push(libc::pollfd {
            fd,
            events,
            revents: 0,
        });
        self.fds.len() - 1
    }

    pub fn set_events(&mut self, slot: usize, events: i16) {
        self.fds[slot].events = events;
    }

    pub fn clear(&mut self, slot: usize) {
        self.fds[slot].fd = -1;
        self.fds[slot].revents = 0;
    }

    /// poll(2); a signal counts as zero ready descriptors.
    pub fn poll(&mut self, timeout_ms: libc::c_int) -> io::Result<usize> {
        // SAFETY: `fds` holds `len` initialised pollfd entries that the kernel updates.
        let n = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        match cvt(n) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }

    pub fn len(&self) -> usize {
        self.fds.len()
    }

    pub fn revents(&self, slot: usize) -> i16 {
        self.fds[slot].revents
    }
}

/// The raw poll(2) echo server (level-triggered, as poll is).
pub fn serve_poll(args: ServerArgs) -> io::Result<ServerStats> {
    let mut fds = RawPoll::with_capacity(args.connections + 1);
    fds.push(args.listener.as_raw_fd(), POLLIN);
    let mut slab = Slab::new(args.connections);
    let err_hup = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
    while !slab.done() {
        let mut left = fds.poll(-1)?;
        let mut token = 0;
        // Scan only as far as needed: `left` entries have non-zero revents.
        while left > 0 && token < fds.len() {
            let revents = fds.revents(token);
            if revents == 0 {
                token += 1;
                continue;
            }
            left -= 1;
            if token == LISTENER {
                while let Some(stream) = echo::accept(&args.listener)? {
                    let fd = stream.as_raw_fd();
                    slab.insert(stream);
                    fds.push(fd, POLLIN);
                }
            } else if let Some(conn) = slab.get(token) {
                let readable = revents & (POLLIN | err_hup) != 0;
                match conn.ready(readable, revents & POLLOUT != 0) {
                    Change::Keep => {}
                    Change::WantWrite => fds.set_events(token, POLLOUT),
                    Change::WantRead => fds.set_events(token, POLLIN),
                    Change::Close => {
                        fds.clear(token);
                        slab.remove(token);
                    }
                }
            }
            token += 1;
        }
    }
    Ok(ServerStats {
        errors: slab.errors,
        allocations: None,
    })
}

/// The idle-scaling ping-pong on raw epoll.
pub fn idle_epoll(args: &IdleArgs<'_>) -> io::Result<IdleResult> {
    let mut ep = RawEpoll::new(EVENTS)?;
    let et = if args.edge { ET } else { 0 };
    for (i, s) in args.idle.iter().enumerate() {
        ep.add(s.as_raw_fd(), i as u64 + 1, IN | et)?;
    }
    let pipe = PingPipe::new()?;
    ep.add(pipe.reader_fd(), 0, IN | et)?;
    let result = args.run(|| {
        let n = ep.wait(-1)?;
        for i in 0..n {
            if ep.event(i).0 == 0 {
                pipe.bounce()?;
            }
        }
        Ok(())
    });
    drop(ep); // closing the epoll instance drops every registration at once
    result
}

/// The idle-scaling ping-pong on a raw pollfd array. The pipe goes last, as in every
/// other contender (poll(2) stops queueing itself on wait queues once it has found a
/// ready fd, so the ready fd's place in the array matters), and the ready entries are
/// found by scanning, as the echo server does.
pub fn idle_poll(args: &IdleArgs<'_>) -> io::Result<IdleResult> {
    let pipe = PingPipe::new()?;
    let mut fds = RawPoll::with_capacity(args.idle.len() + 1);
    for s in args.idle {
        fds.push(UnixStream::as_raw_fd(s), POLLIN);
    }
    let pipe_slot = fds.push(pipe.reader_fd(), POLLIN);
    args.run(|| {
        let mut left = fds.poll(-1)?;
        let mut slot = 0;
        while left > 0 && slot < fds.len() {
            if fds.revents(slot) != 0 {
                left -= 1;
                if slot == pipe_slot {
                    pipe.bounce()?;
                }
            }
            slot += 1;
        }
        Ok(())
    })
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
