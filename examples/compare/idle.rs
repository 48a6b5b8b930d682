//! The idle-scaling workload: N idle registered sockets plus one active pipe ping-pong,
//! per contender, timed per iteration (one wait, one read, one write).

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use selectio::pipe::{PipeReader, PipeWriter};

/// A pipe with one byte in flight: `bounce` reads it and writes it back, so the read end
/// is readable again (a new edge for edge-triggered registrations).
#[derive(Debug)]
pub struct PingPipe {
    reader: PipeReader,
    writer: PipeWriter,
}

impl PingPipe {
    pub fn new() -> io::Result<PingPipe> {
        let (reader, mut writer) = selectio::pipe::pipe()?;
        writer.write_all(b"x")?;
        Ok(PingPipe { reader, writer })
    }

    pub fn reader(&self) -> &PipeReader {
        &self.reader
    }

    pub fn reader_fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    pub fn bounce(&self) -> io::Result<()> {
        let mut byte = [0u8; 1];
        match (&self.reader).read(&mut byte) {
            Ok(1) => (&self.writer).write_all(&byte),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "ping-pong pipe closed",
            )),
            // A spurious wake-up (level-triggered after the read): nothing to bounce.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// What an idle-scaling contender gets.
#[derive(Debug)]
pub struct IdleArgs<'a> {
    /// Sockets to register for `READABLE`; nothing is ever sent to them.
    pub idle: &'a [UnixStream],
    pub edge: bool,
    pub duration: Duration,
}

/// Iterations done in `elapsed` wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct IdleResult {
    pub iterations: u64,
    pub elapsed: Duration,
}

impl IdleResult {
    pub fn ns_per_iteration(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.iterations.max(1) as f64
    }
}

impl IdleArgs<'_> {
    /// Runs `iteration` (one wait and its bounce) until `duration` has passed, looking at
    /// the clock every 64 iterations.
    pub fn run(&self, mut iteration: impl FnMut() -> io::Result<()>) -> io::Result<IdleResult> {
        let start = Instant::now();
        let mut iterations = 0;
        loop {
            for _ in 0..64 {
                iteration()?;
            }
            iterations += 64;
            let elapsed = start.elapsed();
            if elapsed >= self.duration {
                return Ok(IdleResult {
                    iterations,
                    elapsed,
                });
            }
        }
    }
}

/// `n` idle sockets (n/2 socket pairs, both ends kept).
pub fn idle_sockets(n: usize) -> io::Result<Vec<UnixStream>> {
    let mut all = Vec::with_capacity(n);
    while all.len() < n {
        let (a, b) = UnixStream::pair()?;
        all.push(a);
        if all.len() < n {
            all.push(b);
        }
    }
    Ok(all)
}
