//! The uring backend's registry: one entry per fd number, each with the generation that
//! tags its poll requests, and the test that tells a reused number from a duplicate.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys;
use crate::{Interest, Mode, Token};

/// One registration.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reg {
    pub(super) token: Token,
    pub(super) interest: Interest,
    pub(super) mode: Mode,
    /// A poll request of this generation is queued or in the kernel.
    pub(super) armed: bool,
    /// What the file was when registered (see [`Identity`]).
    pub(super) identity: Identity,
}

/// What tells the registered file from another that got its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Identity {
    /// A socket: sockfs gives each one its own inode number, never reused while the file
    /// lives, and a pending poll request keeps a closed one alive: `(st_dev, st_ino)`.
    Socket(u64, u64),
    /// Any other file is added to the selector's identity epoll instance, whose interest
    /// list is keyed by (file, fd number) and forgets a file when it is freed; the
    /// `fstat` identity alone proves nothing (every eventfd, timerfd and signalfd shares
    /// one inode, a path opened twice is two files with one inode).
    Epoll(u64, u64),
    /// A file epoll refuses (a regular file, a directory): the `fstat` identity only.
    Stat(u64, u64),
}

/// The registry: a table indexed by fd number (numbers are small and dense, lowest
/// first), so the completion path finds an entry with one bounds check.
#[derive(Debug, Default)]
pub(super) struct Table {
    entries: Vec<Entry>,
    /// The completions of one `select` whose readiness is checked again before they are
    /// reported, and the poll(2) array that checks them: kept, so no `select` allocates
    /// once they have the events' capacity.
    pub(super) checks: Vec<Check>,
    pub(super) pollfds: Vec<libc::pollfd>,
}

/// A completion to check: the registration it belongs to, when it completed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Check {
    pub(super) fd: RawFd,
    pub(super) gen: u32,
    pub(super) reg: Reg,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// Bumped by every register, reregister and deregister of the number, and kept when
    /// the entry is vacant, so a completion of an older request never matches.
    gen: u32,
    reg: Option<Reg>,
}

impl Table {
    /// The registration of `fd` and its generation.
    #[inline]
    pub(super) fn get(&mut self, fd: RawFd) -> Option<(u32, &mut Reg)> {
        let entry = self.entries.get_mut(usize::try_from(fd).ok()?)?;
        let gen = entry.gen;
        entry.reg.as_mut().map(|reg| (gen, reg))
    }

    /// Stores `reg` for `fd` under a new generation, which it returns.
    pub(super) fn set(&mut self, fd: RawFd, reg: Option<Reg>) -> u32 {
        let i = usize::try_from(fd).expect("a validated fd is not negative");
        if i >= self.entries.len() {
            self.entries.resize(i + 1, Entry::default());
        }
        let entry = &mut self.entries[i];
        entry.gen = next_gen(entry.gen);
        entry.reg = reg;
        entry.gen
    }
}

/// The generation after `gen`: 1 to 2^31 − 1, as generation 0 tags the selector's own
/// requests and the top bit of `user_data` marks a removal.
pub(super) fn next_gen(gen: u32) -> u32 {
    (gen.wrapping_add(1) & 0x7fff_ffff).max(1)
}

/// The identity epoll instance: asked whether a number still names the registered file.
#[derive(Debug)]
pub(super) struct Oracle {
    ep: OwnedFd,
}

impl Oracle {
    pub(super) fn new() -> io::Result<Oracle> {
        // SAFETY: plain system call; the result is checked and owned by `owned`.
        let ep = sys::owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Oracle { ep })
    }

    pub(super) fn fd(&self) -> RawFd {
        self.ep.as_raw_fd()
    }

    /// The identity of `fd` as `register` records it, and whether the identity epoll has
    /// it already under this number: then the very file is registered, or was.
    pub(super) fn identify(&self, fd: RawFd) -> io::Result<(Identity, bool)> {
        let (dev, ino, mode) = sys::fd_stat(fd)?;
        if mode & libc::S_IFMT == libc::S_IFSOCK {
            return Ok((Identity::Socket(dev, ino), false));
        }
        // No events asked: the entry only records (file, number).
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: `ev` is valid for the call; a bad fd is an error the kernel reports.
        match sys::cvt(unsafe { libc::epoll_ctl(self.fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) }) {
            Ok(_) => Ok((Identity::Epoll(dev, ino), false)),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                Ok((Identity::Epoll(dev, ino), true))
            }
            // EPERM: a regular file or directory; ELOOP/EINVAL: an epoll fd nesting.
            Err(_) => Ok((Identity::Stat(dev, ino), false)),
        }
    }

    /// Forgets `fd` after its registration ended (a closed file is forgotten already).
    pub(super) fn forget(&self, fd: RawFd, identity: Identity) {
        if let Identity::Epoll(..) = identity {
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: as in `identify`. ENOENT/EBADF: the file was closed, nothing to do.
            let _ = unsafe { libc::epoll_ctl(self.fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) };
        }
    }
}

/// Whether the file `new` (`known`: the identity epoll had it under this number), just
/// found at the number of a registration made with `old`, is another file (the registered
/// one was closed without `deregister`), or `None` when nothing tells (the same `fstat`
/// identity of a file epoll refuses).
pub(super) fn is_other_file(old: Identity, new: Identity, known: bool) -> Option<bool> {
    if known {
        // The identity epoll keeps (file, number) until the file is freed, and a file
        // registered here earlier may be back at the number through a duplicate: the
        // same file only if the registration recorded this identity.
        return Some(!(matches!(old, Identity::Epoll(..)) && old == new));
    }
    match (old, new) {
        (Identity::Socket(..), Identity::Socket(..)) => Some(old != new),
        // The identity epoll took the file under this number: not the registered one.
        (_, Identity::Epoll(..)) => Some(true),
        (Identity::Stat(..), Identity::Stat(..)) if old == new => None,
        // Another kind of file, or another inode: another file.
        _ => Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file the identity epoll knows under the number is the registered one only if the
    /// registration recorded its identity: the epoll keeps (file, number) until the file
    /// is freed, so a duplicate can bring back a file registered there before.
    #[test]
    fn a_known_file_is_the_registered_one_only_with_the_recorded_identity() {
        let pipe = Identity::Epoll(1, 2);
        assert_eq!(is_other_file(pipe, pipe, true), Some(false));
        assert_eq!(is_other_file(Identity::Epoll(1, 3), pipe, true), Some(true));
        assert_eq!(
            is_other_file(Identity::Socket(1, 2), pipe, true),
            Some(true)
        );
        assert_eq!(is_other_file(Identity::Stat(1, 2), pipe, true), Some(true));
        // Unknown to the epoll: sockets by inode, any other file is another file, and two
        // files epoll refuses with one inode cannot be told apart.
        let socket = Identity::Socket(5, 6);
        assert_eq!(is_other_file(socket, socket, false), Some(false));
        assert_eq!(
            is_other_file(socket, Identity::Socket(5, 7), false),
            Some(true)
        );
        assert_eq!(is_other_file(pipe, pipe, false), Some(true));
        let file = Identity::Stat(1, 2);
        assert_eq!(is_other_file(file, file, false), None);
    }
}
