//! The echo server example's handler (`examples/echo_server.rs`, compiled in here as it
//! is) on every backend, serving on its own thread: 64 clients × 1,000 messages of 1 B to
//! 64 KiB from a second loop on the same backend, every byte checked, writes that would
//! block forced on both sides by 16 KiB socket buffers, every connection closed by the
//! server after the client's EOF, nothing left registered on either loop; then every mode
//! the backend offers, the OS's default buffers, and proof that the check catches a
//! single flipped bit.

#[macro_use]
mod util;

#[path = "../examples/echo_server.rs"]
#[allow(dead_code)] // the example's `main`
mod echo;

use std::fmt::Debug;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use echo::{Echo, Stats};
use selectio::net::{TcpSocket, TcpStream};
use selectio::{EventLoop, Handler, Interest, Mode, Ready, Selector, Token};
use util::rng::XorShift;

/// The largest message a client sends.
const MAX_MESSAGE: usize = 64 * 1024;
/// The most bytes a client has sent and not yet seen echoed before it stops sending.
const WINDOW: u64 = 256 * 1024;
/// A bound on a whole run, never reached when the code is right.
const DEADLINE: Duration = Duration::from_secs(120);

/// What a run does.
#[derive(Debug, Clone)]
struct Config {
    clients: usize,
    messages: usize,
    mode: Mode,
    seed: u64,
    /// `SO_SNDBUF`/`SO_RCVBUF` of every socket; `None` keeps the OS default. 16 KiB makes
    /// writes block often (with Linux's loopback defaults they almost never do).
    buffer: Option<usize>,
}

fn config(clients: usize, messages: usize, mode: Mode) -> Config {
    let (seed, buffer) = (0x5e1e_c710, Some(16 * 1024));
    Config {
        clients,
        messages,
        mode,
        seed,
        buffer,
    }
}

/// One message: a slice of the shared pattern, and how much of it went through.
#[derive(Debug, Clone, Copy)]
struct Message {
    index: usize,
    offset: usize,
    len: usize,
    done: usize,
}

impl Message {
    fn rest<'a>(&self, pattern: &'a [u8]) -> &'a [u8] {
        &pattern[self.offset + self.done..self.offset + self.len]
    }
}

/// A client's messages, drawn one by one; the sender and the checker each hold a copy
/// started from the same seed, so the checker knows every byte without storing any.
#[derive(Debug, Clone)]
struct Plan {
    rng: XorShift,
    drawn: usize,
    left: usize,
}

impl Plan {
    fn new(cfg: &Config, id: usize) -> Plan {
        let rng = XorShift::new(cfg.seed ^ (id as u64).wrapping_mul(0x9e37_79b9));
        let (drawn, left) = (0, cfg.messages);
        Plan { rng, drawn, left }
    }

    fn next(&mut self) -> Option<Message> {
        self.left = self.left.checked_sub(1)?;
        self.drawn += 1;
        // Log-uniform: a power of two 2^e (e in 0..16), then uniform in [2^e, 2^(e+1)].
        let low = 1usize << self.rng.below(16);
        let len = low + self.rng.below(low + 1);
        let offset = self.rng.below(MAX_MESSAGE);
        let (index, done) = (self.drawn - 1, 0);
        Some(Message {
            index,
            offset,
            len,
            done,
        })
    }
}

/// The bytes messages are cut from: 128 KiB of xorshift output, so that no shift of a
/// message matches itself and a lost, repeated or reordered chunk shows.
fn pattern(seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed ^ 0x0a77_e2e5);
    (0..2 * MAX_MESSAGE).map(|_| rng.below(256) as u8).collect()
}

/// A client: connecting, then sending its plan and checking the echo.
#[derive(Debug)]
struct Client {
    id: usize,
    stream: TcpStream,
    connected: bool,
    send: Plan,
    check: Plan,
    sending: Option<Message>,
    checking: Option<Message>,
    sent: u64,
    verified: u64,
}

/// Counters of the clients.
#[derive(Debug, Default)]
struct ClientStats {
    done: usize,
    messages_verified: u64,
    bytes_verified: u64,
    /// Writes that took less than offered or would block, and so needed `WRITABLE`.
    partial_writes: u64,
}

/// The clients' handler: one loop drives every client.
#[derive(Debug)]
struct Clients {
    clients: Vec<Option<Client>>,
    mode: Mode,
    pattern: Vec<u8>,
    buf: Vec<u8>,
    stats: ClientStats,
    failure: Option<String>,
}

impl Clients {
    /// Starts `cfg.clients` clients: each connects with the race-free `el.connect`
    /// (Oneshot, both interests) and is told of the outcome by a `writable` notification.
    fn start<S: Selector>(
        el: &mut EventLoop<Clients, S>,
        addr: SocketAddr,
        cfg: &Config,
    ) -> io::Result<Clients> {
        let mut clients = Vec::new();
        for id in 0..cfg.clients {
            let socket = TcpSocket::for_addr(addr)?;
            socket.set_nodelay(true)?;
            set_buffers(&socket, cfg.buffer)?;
            let stream = el.connect(socket, &addr, Token(id))?;
            let plan = Plan::new(cfg, id);
            clients.push(Some(Client {
                id,
                stream,
                connected: false,
                send: plan.clone(),
                check: plan,
                sending: None,
                checking: None,
                sent: 0,
                verified: 0,
            }));
        }
        Ok(Clients {
            clients,
            mode: cfg.mode,
            pattern: pattern(cfg.seed),
            buf: vec![0; MAX_MESSAGE],
            stats: ClientStats::default(),
            failure: None,
        })
    }

    fn close_all<S: Selector>(&mut self, el: &mut EventLoop<Clients, S>) {
        for client in self.clients.drain(..).flatten() {
            let _ = el.deregister(&client.stream);
        }
    }
}

impl<S: Selector> Handler<S> for Clients {
    type Timeout = ();
    type Message = ();

    fn ready(&mut self, el: &mut EventLoop<Clients, S>, token: Token, _: Ready) {
        let Some(Some(client)) = self.clients.get_mut(token.0) else {
            return;
        };
        let (pattern, buf, stats) = (&self.pattern, &mut self.buf, &mut self.stats);
        let next = drive(client, pattern, buf, stats).and_then(|next| {
            let Some(interest) = next else {
                return Ok(None);
            };
            let rereg = el.reregister(&client.stream, token, interest, self.mode);
            rereg.map(|()| Some(interest)).map_err(|e| e.to_string())
        });
        match next {
            Ok(Some(_)) => {}
            Ok(None) => {
                let client = self.clients[token.0].take().expect("open");
                let _ = el.deregister(&client.stream);
                self.stats.done += 1;
                if self.stats.done == self.clients.len() {
                    el.shutdown();
                }
            }
            Err(e) => {
                self.failure.get_or_insert(e);
                el.shutdown();
            }
        }
    }

    fn timeout(&mut self, el: &mut EventLoop<Clients, S>, (): ()) {
        let msg = format!("timed out; progress: {:?}", self.stats);
        self.failure.get_or_insert(msg);
        el.shutdown();
    }
}

/// A client: on the first notification check the connect outcome, then read and check
/// everything available and send while the window allows; `WRITABLE` only while a
/// message is partly unsent. `None` once the whole echo is checked.
fn drive(
    client: &mut Client,
    pattern: &[u8],
    buf: &mut [u8],
    stats: &mut ClientStats,
) -> Result<Option<Interest>, String> {
    let id = client.id;
    if !client.connected {
        if let Some(e) = client.stream.take_error().map_err(|e| e.to_string())? {
            return Err(format!("client {id}: connect failed: {e}"));
        }
        if client.stream.peer_addr().is_err() {
            return Ok(Some(Interest::BOTH)); // still connecting: a spurious wake-up
        }
        client.connected = true;
    }
    loop {
        match (&client.stream).read(buf) {
            Ok(0) => return Err(format!("client {id}: EOF after {} bytes", client.verified)),
            Ok(n) => check(client, &buf[..n], pattern, stats)?,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(format!("client {id}: read: {e}")),
        }
    }
    let blocked = send(client, pattern, stats)?;
    if client.checking.is_none() && client.check.left == 0 {
        return Ok(None);
    }
    Ok(Some(match blocked {
        true => Interest::BOTH,
        false => Interest::READABLE,
    }))
}

/// Compares echoed bytes with what the client sent, message by message.
fn check(
    client: &mut Client,
    mut data: &[u8],
    pattern: &[u8],
    stats: &mut ClientStats,
) -> Result<(), String> {
    let id = client.id;
    if client.verified + data.len() as u64 > client.sent {
        let echoed = client.verified + data.len() as u64;
        return Err(format!(
            "client {id}: {echoed} bytes echoed, {} sent",
            client.sent
        ));
    }
    while !data.is_empty() {
        let mut msg = match client.checking.take().or_else(|| client.check.next()) {
            Some(msg) => msg,
            None => return Err(format!("client {id}: echo longer than its messages")),
        };
        let want = msg.rest(pattern);
        let k = want.len().min(data.len());
        // Slice equality is one memcmp; the byte loop runs only to describe a mismatch.
        if data[..k] != want[..k] {
            let i = (0..k).find(|&i| data[i] != want[i]).unwrap_or(0);
            let (got, sent, at) = (data[i], want[i], msg.done + i);
            let (index, len) = (msg.index, msg.len);
            return Err(format!(
                "client {id}: byte {at} of message {index} ({len} bytes) differs: \
                 got {got:#04x}, sent {sent:#04x}"
            ));
        }
        (msg.done, data) = (msg.done + k, &data[k..]);
        client.verified += k as u64;
        stats.bytes_verified += k as u64;
        if msg.done < msg.len {
            client.checking = Some(msg);
        } else {
            stats.messages_verified += 1;
        }
    }
    Ok(())
}

/// Sends while the window allows; `Ok(true)` when a write would block.
fn send(client: &mut Client, pattern: &[u8], stats: &mut ClientStats) -> Result<bool, String> {
    while client.sent - client.verified < WINDOW {
        let Some(mut msg) = client.sending.take().or_else(|| client.send.next()) else {
            return Ok(false);
        };
        let rest = msg.rest(pattern);
        let n = match (&client.stream).write(rest) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(format!("client {}: write: {e}", client.id)),
        };
        (msg.done, client.sent) = (msg.done + n, client.sent + n as u64);
        if msg.done < msg.len {
            client.sending = Some(msg);
        }
        if n < rest.len() {
            stats.partial_writes += 1;
            return Ok(true);
        }
    }
    Ok(false)
}

fn set_buffers(socket: &TcpSocket, buffer: Option<usize>) -> io::Result<()> {
    if let Some(size) = buffer {
        socket.set_send_buffer_size(size)?;
        socket.set_recv_buffer_size(size)?;
    }
    Ok(())
}

/// Runs the clients of `cfg` against `addr` in a loop on `S`; the loop ends empty.
fn run_clients<S: Selector + Debug>(addr: SocketAddr, cfg: &Config) -> Result<ClientStats, String> {
    let mut el: EventLoop<Clients, S> = EventLoop::new().map_err(|e| e.to_string())?;
    let mut clients = Clients::start(&mut el, addr, cfg).map_err(|e| format!("start: {e}"))?;
    let deadline = el.timeout((), DEADLINE).expect("timer");
    let run = el.run(&mut clients);
    el.clear_timeout(&deadline);
    clients.close_all(&mut el);
    assert_eq!(el.registered(), 0, "clients left registered: {el:?}");
    run.map_err(|e| format!("client loop: {e}"))?;
    if let Some(failure) = clients.failure {
        return Err(failure);
    }
    let expected = (cfg.clients * cfg.messages) as u64;
    if clients.stats.messages_verified != expected {
        return Err(format!("incomplete: {:?}", clients.stats));
    }
    Ok(clients.stats)
}

/// The example's server on its own thread: it serves until the clients are `done` and
/// it has closed every connection (it saw each client's EOF), then stops as on a signal
/// and must end with nothing registered.
fn serve<S: Selector + Debug>(
    socket: TcpSocket,
    mode: Mode,
    done: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(), String>>,
) -> Result<Stats, String> {
    let listen = |el: &mut _| Echo::listen(el, socket, mode, Duration::from_secs(1));
    let run_once = |el: &mut EventLoop<_, S>, echo: &mut _, tick| el.run_once(echo, tick);
    let echo = util::serve::serve(listen, ready, &done, DEADLINE, run_once)?;
    Ok(echo.stats)
}

/// The server and the clients of `cfg` on backend `S`.
fn run<S: Selector + Debug>(cfg: &Config) -> Result<(Stats, ClientStats), String> {
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let socket = TcpSocket::for_addr(addr).unwrap();
    set_buffers(&socket, cfg.buffer).unwrap(); // accepted sockets inherit them
    socket.bind(addr).unwrap();
    let addr = socket.local_addr().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let server = {
        let (done, mode) = (done.clone(), cfg.mode);
        move |ready| serve::<S>(socket, mode, done, ready)
    };
    let name = S::new().unwrap().name();
    let context = |e| format!("{name} {:?}: {e}", cfg.mode);
    let (server, clients) =
        util::serve::with_server_thread(&done, server, || run_clients::<S>(addr, cfg));
    let clients = clients.map_err(context)?;
    Ok((server.map_err(context)?, clients))
}

fn echo_64_clients_1000_messages<S: Selector + Debug>() {
    let cfg = config(64, 1000, Mode::Level);
    let (server, clients) = run::<S>(&cfg).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((server.accepted, clients.done), (64, 64));
    assert_eq!(clients.messages_verified, 64_000);
    assert_eq!(server.echoed, clients.bytes_verified);
    assert!(
        server.stalls > 0 && clients.partial_writes > 0,
        "no write blocked to exercise WRITABLE: {server:?} {clients:?}"
    );
}

fn echo_in_every_supported_mode<S: Selector + Debug>() {
    let caps = S::new().expect("selector").capabilities();
    for mode in Mode::ALL {
        match run::<S>(&config(16, 100, mode)) {
            Ok((_, clients)) => assert_eq!(clients.messages_verified, 1600, "{mode:?}"),
            Err(e) if !caps.supports(mode) => assert!(e.contains("not supported"), "{e}"),
            Err(e) => panic!("{e}"),
        }
    }
}

fn echo_with_os_default_buffers<S: Selector + Debug>() {
    let cfg = Config {
        buffer: None,
        ..config(16, 100, Mode::Level)
    };
    let (_, clients) = run::<S>(&cfg).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(clients.messages_verified, 1600);
}

/// The clients against a blocking echo that flips one bit at byte 100,000 of each
/// connection: the check must say which byte differs.
fn echo_check_catches_one_flipped_bit<S: Selector + Debug>() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = config(4, 50, Mode::Level);
    thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            thread::spawn(move || {
                let (mut buf, mut at) = (vec![0u8; 64 * 1024], 0u64);
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if (at..at + n as u64).contains(&100_000) {
                        buf[(100_000 - at) as usize] ^= 1;
                    }
                    at += n as u64;
                    if stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let err = run_clients::<S>(addr, &cfg).expect_err("a corrupted echo passed");
    assert!(err.contains("differs"), "{err}");
}

/// Every behaviour above as a `#[test]` for the selector `$sel`.
macro_rules! all_tests {
    ($sel:ty, $new:expr) => {
        backend_tests!($sel;
            echo_64_clients_1000_messages,
            echo_in_every_supported_mode,
            echo_with_os_default_buffers,
            echo_check_catches_one_flipped_bit,
        );
    };
}

each_backend!(all_tests);
