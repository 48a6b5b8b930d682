//! The load client: C connections per contender doing ping-pong of M-byte messages with
//! P messages in flight each, every echoed byte checked, per-request latency in a fixed
//! histogram.
//!
//! It runs on one thread over raw epoll (edge-triggered, both directions registered
//! once), the same client for every contender: one [`Client`] per contender, each with
//! its connections on an epoll instance of its own. Load comes in slices: a slice starts
//! with nothing in flight, starts P messages on each of the contender's connections,
//! keeps the ping-pong going until its time is up, then stops starting messages and waits
//! for every echo in flight (checking them too). A measured slice spans its start to the
//! end of that drain: its requests, wall time and the server thread's CPU time (read
//! from the server's thread CPU clock at both ends) add up into the round's figures.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::echo::Phase;
use crate::os;
use crate::raw::{RawEpoll, ERR_HUP, ET, IN, OUT};
use crate::stats::Histogram;

/// The pattern repeats every `PERIOD` bytes (a prime, so that message boundaries drift
/// through it); a connection's stream starts at its own offset.
const PERIOD: usize = 65_521;
/// The most bytes read or written in one call.
const CHUNK: usize = 64 * 1024;
/// How long the client waits for the last echoes before counting them as errors.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The bytes every connection sends, and checks in what comes back.
pub struct Pattern {
    bytes: Vec<u8>,
}

impl Pattern {
    /// `PERIOD` bytes of xorshift output, plus `CHUNK` more so that any slice of up to
    /// `CHUNK` bytes starting anywhere in the period is contiguous.
    pub fn new() -> Pattern {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut bytes: Vec<u8> = (0..PERIOD)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        bytes.extend((0..CHUNK).map(|i| bytes[i % PERIOD]).collect::<Vec<_>>());
        Pattern { bytes }
    }

    /// The `len` (at most `CHUNK`) bytes at stream offset `offset`.
    pub fn slice(&self, offset: u64, len: usize) -> &[u8] {
        let start = (offset % PERIOD as u64) as usize;
        &self.bytes[start..start + len.min(CHUNK)]
    }

    /// How many bytes of `data`, received at stream offset `offset`, differ from what was
    /// sent there.
    pub fn mismatches(&self, offset: u64, data: &[u8]) -> u64 {
        let mut bad = 0;
        for (i, chunk) in data.chunks(CHUNK).enumerate() {
            let expected = self.slice(offset + (i * CHUNK) as u64, chunk.len());
            if expected != chunk {
                bad += expected.iter().zip(chunk).filter(|(a, b)| a != b).count() as u64;
            }
        }
        bad
    }
}

/// What the client does on each connection of one contender.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: usize,
    pub message: usize,
    pub pipeline: usize,
}

/// One contender's figures over one round: the sums of its measured slices.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    /// Requests (echoed messages) completed in the measured slices.
    pub requests: u64,
    /// Wall time of the measured slices, each from its start to the end of its drain.
    pub elapsed: Duration,
    /// The server thread's CPU time over the same intervals.
    pub server_cpu: Duration,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    /// Echoed bytes that differ from those sent, measured or not.
    pub mismatches: u64,
    /// I/O errors, early ends of stream, and echoes missing at the end of a drain.
    pub errors: u64,
}

struct Conn {
    stream: TcpStream,
    /// Stream offset of this connection's first byte in the pattern.
    seed: u64,
    sent: u64,
    /// Bytes of the messages started so far.
    target: u64,
    received: u64,
    started: u64,
    done: u64,
    /// Start time of message `k` at `k % P`.
    times: Box<[Instant]>,
    open: bool,
}

impl Conn {
    fn start(&mut self, message: usize, now: Instant) {
        let slot = (self.started % self.times.len() as u64) as usize;
        self.times[slot] = now;
        self.started += 1;
        self.target += message as u64;
    }

    /// Writes what is due until done or the socket is full.
    fn flush(&mut self, pattern: &Pattern) -> io::Result<()> {
        while self.sent < self.target {
            let len = (self.target - self.sent).min(CHUNK as u64) as usize;
            match self.stream.write(pattern.slice(self.seed + self.sent, len)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The client's side of one contender: its connections on an epoll instance of their
/// own, and its tally for the current round.
pub struct Client<'a> {
    load: Load,
    pattern: &'a Pattern,
    /// The server thread's CPU clock.
    server_clock: libc::clockid_t,
    ep: RawEpoll,
    conns: Vec<Conn>,
    buf: Vec<u8>,
    hist: Box<Histogram>,
    sending: bool,
    measuring: bool,
    out: Outcome,
}

impl<'a> Client<'a> {
    /// Opens the connections to the server at `addr` (blocking connect, then
    /// non-blocking, `TCP_NODELAY`) and registers each edge-triggered for both
    /// directions under its index.
    pub fn connect(
        addr: SocketAddr,
        load: Load,
        server_clock: libc::clockid_t,
        pattern: &'a Pattern,
    ) -> io::Result<Client<'a>> {
        let ep = RawEpoll::new(load.connections.max(1))?;
        let now = Instant::now();
        let mut conns = Vec::with_capacity(load.connections);
        for i in 0..load.connections {
            let stream = TcpStream::connect(addr)?;
            stream.set_nonblocking(true)?;
            stream.set_nodelay(true)?;
            ep.add(stream.as_raw_fd(), i as u64, IN | OUT | ET)?;
            conns.push(Conn {
                stream,
                seed: (i as u64).wrapping_mul(7919) % PERIOD as u64,
                sent: 0,
                target: 0,
                received: 0,
                started: 0,
                done: 0,
                times: vec![now; load.pipeline.max(1)].into_boxed_slice(),
                open: true,
            });
        }
        Ok(Client {
            load,
            pattern,
            server_clock,
            ep,
            conns,
            buf: vec![0; CHUNK],
            hist: Histogram::new(),
            sending: false,
            measuring: false,
            out: Outcome::default(),
        })
    }

    /// One unmeasured slice of `length` (warm-up).
    pub fn warm(&mut self, length: Duration) -> io::Result<()> {
        self.pump(Instant::now() + length, None)
    }

    /// One measured slice of `length`: its requests, latencies, wall time and server
    /// CPU time, from its start to the end of its drain, go into the round's tally.
    pub fn measure(&mut self, length: Duration) -> io::Result<()> {
        // Abandoned after a drain that timed out: its errors are counted, and its server
        // may have ended, taking its CPU clock with it (`clock_gettime` then fails).
        if self.conns.iter().all(|c| !c.open) {
            return Ok(());
        }
        let start = Instant::now();
        let cpu = os::clock_ns(self.server_clock)?;
        self.measuring = true;
        let pumped = self.pump(start + length, None);
        self.measuring = false;
        pumped?;
        let end = Instant::now();
        let cpu_end = os::clock_ns(self.server_clock)?;
        self.out.elapsed += end - start;
        self.out.server_cpu += Duration::from_nanos(cpu_end.saturating_sub(cpu));
        Ok(())
    }

    /// Ends the counting of a `--check-allocs` server: sets [`Phase::DRAIN`] and keeps
    /// the requests coming (unmeasured) until the server says [`Phase::COUNTED`] (it may
    /// be blocked in a wait that began while it counted), then drains.
    pub fn await_counted(&mut self, phase: &Phase) -> io::Result<()> {
        phase.set(Phase::DRAIN);
        self.pump(Instant::now() + DRAIN_TIMEOUT, Some(phase))?;
        self.out.errors += u64::from(phase.get() != Phase::COUNTED);
        Ok(())
    }

    /// The round's figures so far; the tally starts again from zero.
    pub fn finish_round(&mut self) -> Outcome {
        let mut out = std::mem::take(&mut self.out);
        out.p50_ns = self.hist.quantile(0.5);
        out.p99_ns = self.hist.quantile(0.99);
        out.p999_ns = self.hist.quantile(0.999);
        self.hist.reset();
        out
    }

    /// Starts P messages on every open connection, keeps the ping-pong going until
    /// `deadline` (or until `counted` says [`Phase::COUNTED`]), then waits for every echo
    /// in flight. Echoes still missing after [`DRAIN_TIMEOUT`] count as errors and end
    /// this contender's connections: the next slices find none open and return at once.
    fn pump(&mut self, deadline: Instant, counted: Option<&Phase>) -> io::Result<()> {
        if self.conns.iter().all(|c| !c.open) {
            return Ok(());
        }
        self.sending = true;
        self.start_all(Instant::now());
        let mut drain_until = None;
        loop {
            let timeout = match drain_until {
                Some(_) => 100,
                None => wait_ms(deadline),
            };
            let n = self.ep.wait(timeout)?;
            let now = Instant::now();
            let done = counted.is_some_and(|p| p.get() == Phase::COUNTED);
            if self.sending && (now >= deadline || done) {
                self.sending = false;
                drain_until = Some(now + DRAIN_TIMEOUT);
            }
            for k in 0..n {
                let (token, flags) = self.ep.event(k);
                self.event(token as usize, flags);
            }
            let left = self.outstanding();
            match drain_until {
                _ if self.conns.iter().all(|c| !c.open) => return Ok(()),
                Some(_) if left == 0 => return Ok(()),
                Some(until) if now >= until => {
                    self.out.errors += left;
                    self.abandon();
                    return Ok(());
                }
                _ => {}
            }
        }
    }

    fn start_all(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let conn = &mut self.conns[i];
            if !conn.open {
                continue;
            }
            for _ in 0..self.load.pipeline {
                conn.start(self.load.message, now);
            }
            if conn.flush(self.pattern).is_err() {
                self.fail(i);
            }
        }
    }

    /// Reads what is there, checks it, completes messages and starts the next ones.
    fn readable(&mut self, i: usize) -> io::Result<()> {
        loop {
            let conn = &mut self.conns[i];
            let n = match conn.stream.read(&mut self.buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let now = Instant::now();
            let data = &self.buf[..n];
            self.out.mismatches += self.pattern.mismatches(conn.seed + conn.received, data);
            conn.received += n as u64;
            if conn.received > conn.sent {
                return Err(io::Error::other("more bytes echoed than sent"));
            }
            let m = self.load.message as u64;
            while conn.done < conn.started && (conn.done + 1) * m <= conn.received {
                let slot = (conn.done % conn.times.len() as u64) as usize;
                if self.measuring {
                    let ns = now.duration_since(conn.times[slot]).as_nanos();
                    self.hist.record(ns.min(u64::MAX as u128) as u64);
                    self.out.requests += 1;
                }
                conn.done += 1;
                if self.sending {
                    conn.start(self.load.message, now);
                }
            }
            conn.flush(self.pattern)?;
            if n < self.buf.len() {
                return Ok(());
            }
        }
    }

    fn event(&mut self, i: usize, flags: u32) {
        if !self.conns.get(i).is_some_and(|c| c.open) {
            return;
        }
        let result = if flags & (IN | ERR_HUP) != 0 {
            self.readable(i)
        } else {
            Ok(())
        };
        let result = result.and_then(|()| {
            if flags & OUT != 0 {
                self.conns[i].flush(self.pattern)
            } else {
                Ok(())
            }
        });
        if result.is_err() {
            self.fail(i);
        }
    }

    /// Counts an error on connection `i` and stops using it.
    fn fail(&mut self, i: usize) {
        self.out.errors += 1;
        let conn = &mut self.conns[i];
        conn.open = false;
        let _ = self.ep.delete(conn.stream.as_raw_fd());
    }

    /// Ends every connection after a drain that did not finish: the echoes still due
    /// would land in a later slice. The server sees the ends of stream and closes its
    /// side.
    fn abandon(&mut self) {
        for conn in self.conns.iter_mut().filter(|c| c.open) {
            conn.open = false;
            let _ = self.ep.delete(conn.stream.as_raw_fd());
            let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn outstanding(&self) -> u64 {
        self.conns
            .iter()
            .filter(|c| c.open)
            .map(|c| c.started - c.done)
            .sum()
    }
}

/// The epoll timeout until `deadline`, rounded up to whole milliseconds, at most 100.
fn wait_ms(deadline: Instant) -> libc::c_int {
    let left = deadline.saturating_duration_since(Instant::now());
    left.as_micros().div_ceil(1000).min(100) as libc::c_int
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_catches_one_corrupted_byte() {
        let pattern = Pattern::new();
        // A stream that wraps around the period, longer than one chunk.
        let offset = PERIOD as u64 - 1000;
        let mut echoed = Vec::new();
        let mut at = offset;
        while echoed.len() < 3 * CHUNK {
            echoed.extend_from_slice(pattern.slice(at, 4096));
            at += 4096;
        }
        assert_eq!(pattern.mismatches(offset, &echoed), 0);
        for corrupt in [0, 999, 1000, CHUNK + 17, echoed.len() - 1] {
            let mut bad = echoed.clone();
            bad[corrupt] ^= 0x01;
            assert_eq!(pattern.mismatches(offset, &bad), 1, "byte {corrupt}");
        }
        // A byte shifted in place (a lost byte) shows up as mismatches too.
        assert!(pattern.mismatches(offset, &echoed[1..]) > 0);
    }
}
