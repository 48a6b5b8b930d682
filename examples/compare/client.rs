//! The load client: C connections doing ping-pong of M-byte messages with P messages in
//! flight each, every echoed byte checked, per-request latency in a fixed histogram.
//!
//! It runs on its own thread over raw epoll (edge-triggered, both directions registered
//! once), the same client for every contender. The measured window starts after the
//! warm-up; at its end the client stops sending, waits for the echoes in flight (checking
//! them too), and closes the connections, which ends the server.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
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

/// What one client run does.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: usize,
    pub message: usize,
    pub pipeline: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// The server counts allocations: keep sending after the window until it says
    /// [`Phase::COUNTED`].
    pub await_counted: bool,
}

/// What one client run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    /// Requests (echoed messages) completed in the window.
    pub requests: u64,
    pub elapsed: Duration,
    /// The server thread's CPU time in the window.
    pub server_cpu: Duration,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    /// Echoed bytes that differ from those sent, over the whole run.
    pub mismatches: u64,
    /// I/O errors, early ends of stream, and echoes missing at the end.
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

/// The client's state across one run.
struct Client<'a> {
    load: Load,
    pattern: &'a Pattern,
    conns: Vec<Conn>,
    buf: Vec<u8>,
    hist: Box<Histogram>,
    sending: bool,
    measuring: bool,
    out: Outcome,
}

impl Client<'_> {
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

    fn event(&mut self, ep: &RawEpoll, i: usize, flags: u32) {
        if !self.conns[i].open {
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
            self.out.errors += 1;
            let conn = &mut self.conns[i];
            conn.open = false;
            let _ = ep.delete(std::os::fd::AsRawFd::as_raw_fd(&conn.stream));
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

/// Runs one load against `addr`; `server_clock` is the server thread's CPU clock.
pub fn run(
    addr: SocketAddr,
    load: Load,
    server_clock: libc::clockid_t,
    phase: &Phase,
    pattern: &Pattern,
) -> io::Result<Outcome> {
    let mut ep = RawEpoll::new(load.connections.max(1))?;
    let mut client = Client {
        load,
        pattern,
        conns: connect(addr, &ep, load)?,
        buf: vec![0; CHUNK],
        hist: Histogram::new(),
        sending: true,
        measuring: false,
        out: Outcome::default(),
    };
    let begin = Instant::now();
    for conn in &mut client.conns {
        for _ in 0..load.pipeline {
            conn.start(load.message, begin);
        }
        conn.flush(pattern)?;
    }
    let mut window = (begin + load.warmup, 0u64);
    let mut drain_until = None;
    loop {
        let n = ep.wait(100)?;
        let now = Instant::now();
        if phase.get() == Phase::WARMUP && now >= window.0 {
            window = (now, os::clock_ns(server_clock)?);
            client.hist.reset();
            client.measuring = true;
            phase.set(Phase::MEASURE);
        } else if phase.get() == Phase::MEASURE && now >= window.0 + load.duration {
            let cpu = os::clock_ns(server_clock)?;
            client.out.elapsed = now - window.0;
            client.out.server_cpu = Duration::from_nanos(cpu.saturating_sub(window.1));
            client.measuring = false;
            phase.set(Phase::DRAIN);
            drain_until = Some(now + DRAIN_TIMEOUT);
        }
        if client.sending && phase.get() >= Phase::DRAIN {
            client.sending = load.await_counted && phase.get() != Phase::COUNTED;
        }
        for k in 0..n {
            let (token, flags) = ep.event(k);
            client.event(&ep, token as usize, flags);
        }
        if let Some(until) = drain_until {
            let left = client.outstanding();
            if (left == 0 && !client.sending) || now >= until {
                client.out.errors += left + u64::from(client.sending);
                break;
            }
        } else if client.conns.iter().all(|c| !c.open) {
            break;
        }
    }
    client.out.p50_ns = client.hist.quantile(0.5);
    client.out.p99_ns = client.hist.quantile(0.99);
    client.out.p999_ns = client.hist.quantile(0.999);
    Ok(client.out)
}

/// Opens the connections (blocking connect, then non-blocking, `TCP_NODELAY`) and
/// registers each edge-triggered for both directions under its index.
fn connect(addr: SocketAddr, ep: &RawEpoll, load: Load) -> io::Result<Vec<Conn>> {
    let now = Instant::now();
    let mut conns = Vec::with_capacity(load.connections);
    for i in 0..load.connections {
        let stream = TcpStream::connect(addr)?;
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
        ep.add(fd, i as u64, IN | OUT | ET)?;
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
    Ok(conns)
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
