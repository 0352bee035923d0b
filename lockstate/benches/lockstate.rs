//! `cargo bench -p lockstate`: lock+unlock throughput with 10 k and 1 M held locks over
//! 100 k files, and lease grant/break/ack cycles per second. A plain `harness = false`
//! program: it reads the real clock to time itself, which the sans-IO library never does.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // bench timing, not the library

use std::hint::black_box;
use std::time::{Duration, Instant};

use lockstate::*;

const FILES: u64 = 100_000;

/// This process's user+system CPU time (from /proc/self/stat), so figures stay meaningful
/// on a machine shared with other jobs. None where /proc is unavailable.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ = 100 on Linux
}

/// Wall-clock and CPU-time rates for `n` operations.
struct Rate {
    wall: f64,
    cpu: Option<f64>,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>11.0}/s wall", self.wall)?;
        if let Some(c) = self.cpu {
            write!(f, ", {c:>11.0}/s per CPU-second")?;
        }
        Ok(())
    }
}

fn measure(n: usize, f: impl FnOnce()) -> Rate {
    let c0 = cpu_time();
    let t0 = Instant::now();
    f();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = match (c0, cpu_time()) {
        (Some(a), Some(b)) if b > a => Some(n as f64 / (b - a).as_secs_f64()),
        _ => None,
    };
    Rate {
        wall: n as f64 / wall,
        cpu,
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn drain(t: &mut LockTable) {
    while t.poll_record().is_some() {}
    while t.poll_event().is_some() {}
}

/// Fills the table with `held` locks spread over `FILES` files (ranges 0..1000 of each file,
/// one owner per lock slot), then measures lock+unlock pairs on random files in ranges
/// 1_000_000.. so every request is granted. Returns (setup, ops/s).
fn lock_unlock(held: usize, pairs: usize) -> (Duration, Rate) {
    let cfg = Config {
        max_locks: 10_000_000,
        ..Config::default()
    };
    let mut t = LockTable::new(cfg);
    let now = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let owners: Vec<NlmOwner> = (0..1024i32)
        .map(|i| {
            NlmOwner::new(
                format!("client{}", i % 64),
                i,
                format!("oh-{i}").into_bytes(),
            )
        })
        .collect();
    let setup = Instant::now();
    for i in 0..held {
        let file = FileId((i as u64) % FILES);
        let slot = (i as u64) / FILES;
        let owner = owners[i % owners.len()].clone();
        let out = t.nlm_lock(
            NlmLockArgs {
                file,
                owner,
                range: LockRange::nlm(slot * 100, 10).unwrap(),
                exclusive: true,
                block: false,
                reclaim: false,
            },
            now,
        );
        assert_eq!(out, Outcome::Proceed);
        drain(&mut t);
    }
    assert_eq!(t.lock_count(), held);
    let setup = setup.elapsed();
    let rate = measure(2 * pairs, || {
        for _ in 0..pairs {
            let r = rng.next();
            let file = FileId(r % FILES);
            let owner = &owners[((r >> 20) % owners.len() as u64) as usize];
            let range = LockRange::nlm(1_000_000 + ((r >> 32) % 1000) * 10, 10).unwrap();
            let out = t.nlm_lock(
                NlmLockArgs {
                    file,
                    owner: owner.clone(),
                    range,
                    exclusive: r & 1 == 0,
                    block: false,
                    reclaim: false,
                },
                now,
            );
            debug_assert_eq!(out, Outcome::Proceed);
            black_box(&out);
            drain(&mut t);
            black_box(t.nlm_unlock(file, owner, range, now));
            drain(&mut t);
        }
    });
    assert_eq!(t.lock_count(), held);
    (setup, rate)
}

/// Lease grant (RWH), conflicting open → break to RH, ack, pending open completes, both
/// close. One cycle = all of that.
fn lease_cycles(cycles: usize) -> Rate {
    let mut t = LockTable::new(Config::default());
    let now = Instant::now();
    measure(cycles, || {
        let mut open = 1u64;
        for i in 0..cycles {
            let file = FileId((i as u64) % FILES);
            let holder = ClientGuid([1; 16]);
            let key = LeaseKey((i as u128).to_le_bytes());
            let mut c = SmbCreate::new(
                file,
                OpenId(open),
                holder,
                access::READ_DATA | access::WRITE_DATA,
                share::ALL,
            );
            c.cache = CacheRequest::Lease {
                key,
                state: LeaseState::RWH,
                version: LeaseVersion::V2 { parent: None },
            };
            let a = OpenId(open);
            let b = OpenId(open + 1);
            open += 2;
            let g = t.smb_create(c, now);
            debug_assert!(matches!(g, Outcome::Opened(_)));
            let w = t.smb_create(
                SmbCreate::new(file, b, ClientGuid([2; 16]), access::READ_DATA, share::ALL),
                now,
            );
            debug_assert!(matches!(w, Outcome::Wait(_)));
            let mut broke = false;
            while let Some(e) = t.poll_event() {
                broke |= matches!(e, Event::Break(_));
            }
            debug_assert!(broke);
            let acked = t.smb_lease_break_ack(holder, key, LeaseState::RH, now);
            debug_assert_eq!(acked, Ok(LeaseState::RH));
            black_box(&acked);
            let mut done = false;
            while let Some(e) = t.poll_event() {
                done |= matches!(e, Event::Completed { .. });
            }
            debug_assert!(done);
            t.smb_close(a, now);
            t.smb_close(b, now);
            drain(&mut t);
        }
    })
}

fn main() {
    // `cargo bench -p lockstate [-- 10k|1m|lease]` runs everything or one scenario.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let pairs = 2_000_000;
    let mut small = None;
    if want("10k") {
        let (s1, r) = lock_unlock(10_000, pairs);
        println!("lock+unlock ops, 10 k held locks over 100 k files:    {r}  (setup {s1:?})");
        small = Some(r);
    }
    if want("1m") {
        let (s2, big) = lock_unlock(1_000_000, pairs);
        println!("lock+unlock ops, 1 000 k held locks over 100 k files: {big}  (setup {s2:?})");
        if let Some(small) = small {
            println!("ratio 10 k / 1 M (wall): {:.2}", small.wall / big.wall);
            if let (Some(a), Some(b)) = (small.cpu, big.cpu) {
                println!("ratio 10 k / 1 M (CPU):  {:.2}", a / b);
            }
        }
    }
    if want("lease") {
        let cycles = lease_cycles(300_000);
        println!("lease grant/break/ack cycles:                         {cycles}");
    }
}
