//! A loopback SMB server for tests of `proto_smb2::server::Connection` with real clients:
//! std::net and one thread per connection around the machine, a fixed user table, and an
//! upper layer that answers every call with STATUS_NOT_SUPPORTED (the file service is wired
//! into the server core later). What the machine reported (close reasons, events) is kept
//! in a log the tests inspect.

use proto_smb2::server::{Connection, Event, Reply, ServerConfig, Share, ShareKind, UserMap};
use proto_smb2::status::NtStatus;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The test user.
pub const USER: &str = "alice";
/// Its password.
pub const PASSWORD: &str = "Secret-42";

/// A share table with one disk share `export` (and the implied IPC$).
pub fn disk_share(name: &str) -> Share {
    Share {
        name: name.into(),
        id: 1,
        kind: ShareKind::Disk,
        read_only: false,
        guest_ok: false,
        encrypt: proto_smb2::server::EncryptPolicy::Off,
        signing_required: false,
    }
}

/// A configuration with user `alice` and the share `export`.
pub fn config() -> ServerConfig {
    let users = UserMap::default().with_password(USER, PASSWORD, 1000, 1000);
    let mut c = ServerConfig::new([0x4a; 16], vec![disk_share("export")], Arc::new(users));
    c.encrypt = proto_smb2::server::EncryptPolicy::Off;
    c
}

/// What happened on the server side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A call was answered NOT_SUPPORTED (command code).
    Call(u16),
    /// A session ended.
    SessionClosed,
    /// A tree ended.
    TreeClosed,
    /// The machine closed the connection, with the reason.
    Closed(String),
    /// The peer closed the connection.
    PeerClosed,
    /// NEGOTIATE completed: dialect and cipher id (0: none).
    Negotiated(u16, u16),
}

/// A running harness; stops (and joins its threads) on drop.
pub struct SmbHarness {
    /// The listening port on 127.0.0.1.
    pub port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    /// What the connections reported.
    pub log: Arc<Mutex<Vec<LogEntry>>>,
}

fn filetime_now() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    116_444_736_000_000_000 + d.as_nanos() as u64 / 100
}

impl SmbHarness {
    /// Listens on 127.0.0.1 (a free port) and serves `config`.
    pub fn start(config: ServerConfig) -> SmbHarness {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let config = Arc::new(config);
        let (stop2, log2) = (stop.clone(), log.clone());
        let accept = std::thread::spawn(move || {
            let counter = AtomicU64::new(1);
            let mut workers = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let mut seed = [0u8; 32];
                        seed[..8].copy_from_slice(&filetime_now().to_le_bytes());
                        seed[8..16].copy_from_slice(&n.to_le_bytes());
                        seed[16..20].copy_from_slice(&port.to_le_bytes().repeat(2));
                        let (c, st, lg) = (config.clone(), stop2.clone(), log2.clone());
                        workers.push(std::thread::spawn(move || serve(s, c, seed, st, lg)));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        SmbHarness {
            port,
            stop,
            accept: Some(accept),
            log,
        }
    }

    /// A copy of the log.
    pub fn log(&self) -> Vec<LogEntry> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for SmbHarness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    mut s: TcpStream,
    config: Arc<ServerConfig>,
    seed: [u8; 32],
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<LogEntry>>>,
) {
    let push = |e: LogEntry| {
        if let Ok(mut l) = log.lock() {
            l.push(e);
        }
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let mut conn = Connection::new(config, seed);
    let mut buf = vec![0u8; 256 * 1024];
    let mut negotiated = false;
    while !stop.load(Ordering::Relaxed) {
        let n = if conn.wants_read() {
            match s.read(&mut buf) {
                Ok(0) => {
                    push(LogEntry::PeerClosed);
                    return;
                }
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => 0,
                Err(_) => return,
            }
        } else {
            0
        };
        if n > 0 {
            conn.handle_bytes(&buf[..n], filetime_now());
            if !negotiated {
                if let Some(d) = conn.dialect().filter(|d| *d != 0x02FF) {
                    negotiated = true;
                    push(LogEntry::Negotiated(d, conn.cipher_id().unwrap_or(0)));
                }
            }
        }
        loop {
            let mut progressed = false;
            while let Some(ev) = conn.poll_event() {
                progressed = true;
                match ev {
                    Event::Call(c) => {
                        push(LogEntry::Call(c.command().0));
                        let _ = conn.handle_reply(c.id, Reply::error(NtStatus::NOT_SUPPORTED));
                    }
                    Event::Cancel(_) | Event::SessionEstablished { .. } => {}
                    Event::SessionClosed { .. } => push(LogEntry::SessionClosed),
                    Event::TreeClosed { .. } => push(LogEntry::TreeClosed),
                    // One connection: no other holds the session.
                    Event::SessionLookup { session_id } => {
                        conn.handle_session_lookup(session_id, None)
                    }
                }
            }
            while let Some(out) = conn.poll_transmit() {
                progressed = true;
                if s.write_all(&out).is_err() {
                    return;
                }
            }
            if !progressed {
                break;
            }
        }
        if let Some(reason) = conn.poll_close() {
            push(LogEntry::Closed(reason.to_string()));
            let _ = s.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}
