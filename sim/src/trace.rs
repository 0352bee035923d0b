//! The run's trace: one line per thing that happened, stamped with virtual time. Two runs of
//! one seed must produce the same bytes; the trace is printed when a seed fails.

use std::fmt::Write as _;

/// Virtual time in microseconds since the start of the run.
pub type Micros = u64;

/// Formats `t` as seconds with microseconds.
pub fn fmt_time(t: Micros) -> String {
    format!("{:>4}.{:06}", t / 1_000_000, t % 1_000_000)
}

/// An append-only text trace, bounded: past `max_bytes` only a count of dropped lines and
/// the hash of everything are kept, so a long run cannot exhaust memory.
#[derive(Debug)]
pub struct Trace {
    text: String,
    max_bytes: usize,
    dropped: u64,
    hash: u64,
}

impl Trace {
    /// A trace keeping at most `max_bytes` of text.
    pub fn new(max_bytes: usize) -> Trace {
        Trace {
            text: String::new(),
            max_bytes,
            dropped: 0,
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    /// Appends one line at time `t`.
    pub fn line(&mut self, t: Micros, what: std::fmt::Arguments<'_>) {
        let mut l = String::with_capacity(64);
        let _ = writeln!(l, "{} {}", fmt_time(t), what);
        for b in l.bytes() {
            // FNV-1a, 64-bit.
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        if self.text.len() + l.len() <= self.max_bytes {
            self.text.push_str(&l);
        } else {
            self.dropped += 1;
        }
    }

    /// The FNV-1a hash of every line, kept or not.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The kept text (and a note of dropped lines).
    pub fn text(&self) -> String {
        if self.dropped == 0 {
            self.text.clone()
        } else {
            format!("{}... {} more lines not kept\n", self.text, self.dropped)
        }
    }
}

/// `trace!(trace, t, "fmt", args..)`.
#[macro_export]
macro_rules! trace {
    ($tr:expr, $t:expr, $($arg:tt)*) => {
        $tr.line($t, format_args!($($arg)*))
    };
}
