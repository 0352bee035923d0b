//! Replaying captured traffic (`janus replay`, its own crate so the pcap and command-line
//! code stays out of the pure server core): read a pcap/pcapng capture, reassemble its
//! TCP streams, find the RPC (and SMB) messages in it, decode them with Janus's codecs and
//! print the conversation one line per message (one line per element of an SMB2 compound).
//!
//! Layers, bottom up:
//! - [`reader`]: capture files and link/IP/TCP/UDP headers;
//! - [`reassembly`]: TCP reassembly (ordering, retransmissions, gaps, FIN/RST);
//! - [`detect`]: which protocol a flow carries (ports, `--port` overrides, content);
//! - [`framing`]: RPC record marking and NBSS framing, with resynchronisation;
//! - [`conversation`]: all of the above over a whole capture;
//! - [`decode`]: each message decoded with Janus's codecs, replies matched to calls;
//! - [`smb`]: the SMB2 part of it (`proto_smb2`'s codecs, compound chains, responses
//!   matched to requests by MessageId, encrypted frames named but not decoded);
//! - [`against`]: the client side replayed into the server core `janus serve` runs
//!   (`server::Core`, `--against memory`).
//!
//! The CLI calls [`run`] with its [`ReplayArgs`]; [`replay_command`] returns the [`Report`]
//! (whose `Display` is the printed text); tests use [`replay_bytes`].

pub mod against;
pub mod conversation;
pub mod decode;
pub mod detect;
pub mod framing;
pub mod reader;
pub mod reassembly;
pub mod smb;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

pub use conversation::{Conversation, Item, Message};
pub use detect::{AppProtocol, PortMap, PortSpecError};
pub use reader::{Capture, CaptureError};

/// What to replay the client side of the capture against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Against {
    /// Janus's state machines over the in-memory backend.
    Memory,
}

/// Arguments of `janus replay` (add as `Command::Replay(replay::ReplayArgs)` and call
/// [`run`]).
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// The capture: pcap or pcapng, as tcpdump, tshark or Wireshark write it.
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// Also treat PORT as PROTO (rpc, nfs, mount, nlm, nsm, portmap, smb); repeatable.
    /// Standard ports (2049, 111, 20048, 445) need no flag; other flows are recognised by
    /// content.
    #[arg(long = "port", value_name = "PROTO=PORT")]
    pub ports: Vec<String>,
    /// Replay the client side against Janus and print its replies beside the captured ones
    /// (RPC flows; SMB flows are decoded, not replayed).
    #[arg(long, value_enum, value_name = "TARGET")]
    pub against: Option<Against>,
}

/// `janus replay`: prints the report on stdout (an error on stderr) and returns the exit
/// code ([`ReplayError::exit_code`], 0 on success).
pub fn run(args: &ReplayArgs) -> i32 {
    match replay_command(&args.capture, &args.ports, args.against) {
        Ok(report) => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            // A closed stdout (`janus replay x.pcap | head`) is not an error worth reporting.
            let _ = write!(out, "{report}");
            let _ = out.flush();
            0
        }
        Err(e) => {
            eprintln!("janus replay: {e}");
            e.exit_code()
        }
    }
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The capture file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a usable capture.
    #[error("{path}: {source}")]
    Capture {
        /// The file.
        path: PathBuf,
        /// Why.
        source: CaptureError,
    },
    /// A `--port` argument is invalid.
    #[error("--port {0}")]
    Port(#[from] PortSpecError),
}

impl ReplayError {
    /// Exit code for the CLI: 2 for a usage error (`--port`), 1 for a file that cannot be
    /// read or is not a capture.
    pub fn exit_code(&self) -> i32 {
        match self {
            ReplayError::Port(_) => 2,
            ReplayError::Io { .. } | ReplayError::Capture { .. } => 1,
        }
    }
}

/// The result of a replay: the decoded conversation (and, with `--against`, the comparison).
/// Its `Display` is what `janus replay` prints.
#[derive(Debug, Clone)]
pub struct Report {
    /// The conversation.
    pub conversation: Conversation,
    /// The decoding of each item of the conversation (`None` for notes).
    pub decoded: Vec<Option<decode::Decoded>>,
    /// With `--against memory`: Janus's replies beside the captured ones.
    pub against: Option<against::AgainstReport>,
}

impl Report {
    /// Each message with its decoding, in capture order.
    pub fn decoded_messages(&self) -> impl Iterator<Item = (&Message, &decode::Decoded)> {
        self.conversation
            .items
            .iter()
            .zip(&self.decoded)
            .filter_map(|(i, d)| match (i, d) {
                (Item::Message(m), Some(d)) => Some((m, d)),
                _ => None,
            })
    }
}

/// Reads the capture at `path` and replays it. `port_overrides` are `PROTO=PORT` strings
/// (`rpc=20490`, `smb=4450`, ...) added to the standard ports.
pub fn replay_command(
    path: &Path,
    port_overrides: &[String],
    against: Option<Against>,
) -> Result<Report, ReplayError> {
    let mut ports = PortMap::standard();
    for spec in port_overrides {
        ports.add_spec(spec)?;
    }
    let meta = std::fs::metadata(path).map_err(|source| ReplayError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() > reader::MAX_CAPTURE_BYTES as u64 {
        return Err(ReplayError::Capture {
            path: path.to_path_buf(),
            source: CaptureError::TooLarge(meta.len() as usize),
        });
    }
    let data = std::fs::read(path).map_err(|source| ReplayError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    replay_bytes(Bytes::from(data), &ports, against).map_err(|source| ReplayError::Capture {
        path: path.to_path_buf(),
        source,
    })
}

/// Replays a capture held in memory.
pub fn replay_bytes(
    data: Bytes,
    ports: &PortMap,
    against: Option<Against>,
) -> Result<Report, CaptureError> {
    let capture = Capture::parse(data)?;
    let conversation = conversation::build(&capture, ports);
    let mut decoder = decode::Decoder::new();
    let decoded: Vec<Option<decode::Decoded>> = conversation
        .items
        .iter()
        .map(|i| match i {
            Item::Message(m) => Some(decoder.decode(m)),
            Item::Note(_) => None,
        })
        .collect();
    let against = against
        .map(|Against::Memory| against::run(&conversation.items, &decoded, conversation.first_ts));
    Ok(Report {
        conversation,
        decoded,
        against,
    })
}

/// `secs` since the epoch as `YYYY-MM-DD HH:MM:SS.ffffff UTC` (proleptic Gregorian calendar).
fn utc(ts: Duration) -> String {
    let secs = ts.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ts.subsec_micros()
    )
}

fn rel(ts: Duration, first: Option<Duration>) -> String {
    let d = ts.saturating_sub(first.unwrap_or(ts));
    format!("{:>4}.{:06}", d.as_secs(), d.subsec_micros())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.conversation;
        let format = match c.format {
            reader::CaptureFormat::Pcap => "pcap",
            reader::CaptureFormat::PcapNg => "pcapng",
        };
        write!(f, "capture: {format}, {} frames", c.frames)?;
        if let Some(t) = c.first_ts {
            write!(f, ", first at {}", utc(t))?;
        }
        writeln!(f)?;
        for (item, decoded) in c.items.iter().zip(&self.decoded) {
            match item {
                Item::Message(m) => {
                    let prefix = format!(
                        "{} {:<4} {} {} > {}",
                        rel(m.ts, c.first_ts),
                        m.conn.to_string(),
                        m.transport,
                        m.from,
                        m.to
                    );
                    match decoded {
                        Some(d) => {
                            for part in d.parts() {
                                writeln!(f, "{prefix} {}", decode::line(part))?;
                            }
                        }
                        None => writeln!(f, "{prefix} ")?,
                    }
                }
                Item::Note(n) => {
                    let t =
                        n.ts.map(|t| rel(t, c.first_ts))
                            .unwrap_or_else(|| " ".repeat(11));
                    let conn = n.conn.map(|c| c.to_string()).unwrap_or_default();
                    let frame = n.frame.map(|n| format!("frame {n}: ")).unwrap_or_default();
                    writeln!(f, "{t} {conn:<4} warning: {frame}{}", n.text)?
                }
            }
        }
        let messages = c.messages().count();
        let s = &c.skipped;
        let r = &c.reassembly;
        write!(
            f,
            "summary: {messages} messages; skipped {} non-IP frames, {} undecodable frames, {} \
             TCP connections and {} UDP datagrams of other protocols; TCP: {} retransmitted, {} \
             out of order, {} gaps",
            s.non_ip,
            s.undecodable,
            s.tcp_connections,
            s.udp_datagrams,
            r.retransmitted,
            r.out_of_order,
            r.gaps
        )?;
        if s.truncated > 0 {
            write!(
                f,
                "; {} frames cut by the capture's snap length",
                s.truncated
            )?;
        }
        writeln!(f)?;
        if let Some(a) = &self.against {
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReplayArgs,
    }

    #[test]
    fn replay_args() {
        let c = Cli::try_parse_from([
            "janus",
            "x.pcap",
            "--port",
            "rpc=20490",
            "--port",
            "smb=4450",
            "--against",
            "memory",
        ])
        .expect("parses");
        assert_eq!(c.args.capture, PathBuf::from("x.pcap"));
        assert_eq!(c.args.ports, ["rpc=20490", "smb=4450"]);
        assert_eq!(c.args.against, Some(Against::Memory));
        assert!(Cli::try_parse_from(["janus", "x.pcap", "--against", "disk"]).is_err());
        // Errors and their exit codes.
        let missing = run(&ReplayArgs {
            capture: PathBuf::from("/nonexistent/x.pcap"),
            ports: vec![],
            against: None,
        });
        assert_eq!(missing, 1);
        let bad_port = run(&ReplayArgs {
            capture: PathBuf::from("/nonexistent/x.pcap"),
            ports: vec!["http=80".into()],
            against: None,
        });
        assert_eq!(bad_port, 2);
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(Duration::ZERO), "1970-01-01 00:00:00.000000 UTC");
        assert_eq!(
            utc(Duration::new(1_795_856_221, 123_456_789)),
            "2026-11-28 08:57:01.123456 UTC"
        );
        assert_eq!(
            utc(Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00.000000 UTC"
        );
    }
}
