//! Pipes: flags, end of file, broken pipe, full and empty pipes, conversions from a
//! child process, and 4 MiB through `cat`.
// `selectio::pipe` is Unix-only.
#![cfg(unix)]

use std::io::{self, IoSlice, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use selectio::pipe::{pipe, PipeReader, PipeWriter};
use selectio::Interest;

use crate::util::net::{assert_flags, assert_same_bytes, pattern, pump, retry};

#[test]
fn pipe_ends_are_nonblocking_and_cloexec() {
    let (r, w) = pipe().unwrap();
    assert_flags(&r);
    assert_flags(&w);
    let text = format!("{r:?} {w:?}");
    assert!(text.contains("PipeReader") && text.contains("fd"), "{text}");
}

#[test]
fn empty_pipe_would_block_and_eof_after_the_writer_drops() {
    let (mut r, mut w) = pipe().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        r.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert_eq!(
        w.write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"c")])
            .unwrap(),
        3
    );
    drop(w);
    assert_eq!(r.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"abc");
    // EOF once drained and the writer is gone. A process that another test thread is
    // spawning holds a copy of every fd between its fork and its exec (close-on-exec
    // closes them only then), so the end of file may come a moment later.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match r.read(&mut buf) {
            Ok(n) => {
                assert_eq!(n, 0, "EOF once drained and the writer is gone");
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("no EOF after the writer was dropped: {e:?}"),
        }
    }
}

/// Rust's runtime ignores `SIGPIPE`, so the write fails with `BrokenPipe` (see
/// `pipe.rs` on hosts that do not).
#[test]
fn write_after_the_reader_drops_is_broken_pipe() {
    let (r, w) = pipe().unwrap();
    drop(r);
    let e = (&w).write(b"x").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e:?}");
}

#[test]
fn full_pipe_would_block() {
    let (_r, w) = pipe().unwrap();
    let chunk = [7u8; 64 * 1024];
    let mut total = 0usize;
    let e = loop {
        match (&w).write(&chunk) {
            Ok(n) => total += n,
            Err(e) => break e,
        }
        assert!(total < 64 << 20, "a pipe accepted 64 MiB without blocking");
    };
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e:?}");
}

#[test]
fn std_pipes_become_nonblocking() {
    let (r, w) = std::io::pipe().unwrap();
    let r = PipeReader::from_std(r).unwrap();
    let w = PipeWriter::from_std(w).unwrap();
    assert_flags(&r);
    assert_flags(&w);
    assert_flags(&r.into_std());
    assert_flags(&w.into_std());
}

#[test]
fn four_mib_through_cat() {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn cat");
    let stdin = PipeWriter::try_from(child.stdin.take().unwrap()).unwrap();
    let mut stdout = PipeReader::try_from(child.stdout.take().unwrap()).unwrap();
    assert_flags(&stdin);
    assert_flags(&stdout);
    let data = pattern(4 << 20);
    let got = pump(stdin, &mut stdout, &data);
    assert_same_bytes(&got, &data);
    assert!(child.wait().unwrap().success());
}

#[test]
fn child_stderr_converts_to_a_reader() {
    let mut child = Command::new("sh")
        .args(["-c", "printf oops >&2"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let stderr = PipeReader::try_from(child.stderr.take().unwrap()).unwrap();
    assert_flags(&stderr);
    let mut out = Vec::new();
    loop {
        let mut buf = [0u8; 64];
        match retry(&stderr, Interest::READABLE, || (&stderr).read(&mut buf)).unwrap() {
            0 => break,
            n => out.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(out, b"oops");
    assert!(child.wait().unwrap().success());
}
