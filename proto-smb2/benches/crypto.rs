//! `cargo bench -p proto-smb2 --bench crypto`: seal/unseal (transform encrypt/decrypt) of a
//! 1 MiB message with each cipher, and signing of it with each algorithm, in MB/s of CPU
//! time. A plain `harness = false` program: it reads the real clock to time itself, which
//! the sans-IO library never does. The figures show whether RustCrypto's AES-NI and
//! PCLMULQDQ paths are in use (software AES is ~10x slower than these).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // bench timing, not the library

use std::hint::black_box;
use std::time::{Duration, Instant};

use proto_smb2::crypto::signing::{sign, SigningAlgorithm};
use proto_smb2::crypto::transform::{decrypt, encrypt, Cipher};

const LEN: usize = 1 << 20;

/// This process's user+system CPU time (from /proc/self/stat), so figures stay meaningful
/// on a machine shared with other jobs; the wall clock where /proc is unavailable.
fn cpu_time(wall: Instant) -> Duration {
    let read = || -> Option<Duration> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_millis(ticks * 10)) // USER_HZ = 100 on Linux
    };
    read().unwrap_or_else(|| wall.elapsed())
}

/// Runs `f` over `LEN` bytes until a second of CPU time has passed; MB/s (10^6 bytes/s).
fn rate(mut f: impl FnMut()) -> f64 {
    f();
    let wall = Instant::now();
    let start = cpu_time(wall);
    let mut n = 0u64;
    loop {
        f();
        n += 1;
        let spent = cpu_time(wall) - start;
        if spent >= Duration::from_secs(1) {
            return (n as f64 * LEN as f64) / spent.as_secs_f64() / 1e6;
        }
    }
}

fn main() {
    let msg: Vec<u8> = (0..LEN).map(|i| (i * 31 + 7) as u8).collect();
    let nonce = [7u8; 16];
    for (name, c, key) in [
        ("AES-128-GCM", Cipher::Aes128Gcm, vec![1u8; 16]),
        ("AES-256-GCM", Cipher::Aes256Gcm, vec![1u8; 32]),
        ("AES-128-CCM", Cipher::Aes128Ccm, vec![1u8; 16]),
        ("AES-256-CCM", Cipher::Aes256Ccm, vec![1u8; 32]),
    ] {
        let sealed = encrypt(c, &key, &nonce, 1, &msg).expect("seal");
        let seal = rate(|| {
            black_box(encrypt(c, &key, &nonce, 1, black_box(&msg)).expect("seal"));
        });
        let open = rate(|| {
            black_box(decrypt(c, &key, black_box(&sealed)).expect("unseal"));
        });
        println!("{name:12} seal {seal:8.0} MB/s   unseal {open:8.0} MB/s   (1 MiB, CPU time)");
    }
    let key = [3u8; 16];
    for (name, alg) in [
        ("HMAC-SHA256", SigningAlgorithm::HmacSha256),
        ("AES-CMAC", SigningAlgorithm::AesCmac),
        ("AES-GMAC", SigningAlgorithm::AesGmac),
    ] {
        let mut m = msg.clone();
        let r = rate(|| {
            sign(alg, &key, black_box(&mut m)).expect("sign");
        });
        println!("{name:12} sign {r:8.0} MB/s   (1 MiB, CPU time)");
    }
    let copy = rate(|| {
        black_box(black_box(&msg).to_vec());
    });
    println!("memcpy (to_vec) {copy:8.0} MB/s   (1 MiB, CPU time, for scale)");
}
