//! The `janus` command line (clap derive).
//!
//! Every `serve` flag is optional here so that [`crate::config::Config::resolve`] can tell a
//! flag the user gave (which overrides the config file) from one left at its default; the
//! defaults are stated in the help text and applied there.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::BackendKind;

/// Janus: a multi-protocol (NFSv3, later SMB 2/3) file server.
#[derive(Debug, Parser)]
#[command(name = "janus", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve directories over NFSv3 (with MOUNT, portmap/rpcbind).
    Serve(ServeArgs),
    /// Decode a pcap/pcapng capture with Janus's codecs, optionally replaying the client
    /// side against Janus's state machines (`--against memory`).
    Replay(replay::ReplayArgs),
}

/// Flags of `janus serve`.
#[derive(Debug, Default, Clone, Args)]
pub struct ServeArgs {
    /// Export DIR as /NAME (repeatable).
    #[arg(long = "share", value_name = "NAME=DIR")]
    pub shares: Vec<String>,
    /// Address to listen on [default: 0.0.0.0].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
    /// Port of NFS, MOUNT, NLM and NSM [default: 2049].
    #[arg(long, value_name = "P")]
    pub nfs_port: Option<u16>,
    /// Port of the portmapper, 0 = off (it is answered on the NFS port too) [default: 111].
    #[arg(long, value_name = "P")]
    pub portmap_port: Option<u16>,
    // `--smb-port` goes here with the SMB work.
    /// State directory (boot counter, journal) [default: ./janus-state].
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// TOML config file with every option; flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log filter, tracing EnvFilter syntax (RUST_LOG is used if absent) [default: info].
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// File-system backend of every share [default: local].
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Lock grace period after a restart, in seconds [default: 90].
    #[arg(long, value_name = "SECONDS")]
    pub grace_period: Option<u64>,
    /// Port of the clients' portmappers, asked for their NLM/NSM port before a GRANTED_MSG
    /// callback or SM_NOTIFY (tests point it at their own listener) [default: 111].
    #[arg(long, value_name = "P")]
    pub nlm_callback_portmap_port: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_flag() {
        let cli = Cli::try_parse_from([
            "janus",
            "serve",
            "--share",
            "a=/x",
            "--share",
            "b=/y",
            "--bind",
            "::1",
            "--nfs-port",
            "20490",
            "--portmap-port",
            "0",
            "--state",
            "s",
            "--config",
            "c.toml",
            "--log",
            "debug",
            "--backend",
            "memory",
            "--grace-period",
            "10",
        ])
        .unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("expected serve")
        };
        assert_eq!(a.shares, vec!["a=/x", "b=/y"]);
        assert_eq!(a.bind, Some("::1".parse().unwrap()));
        assert_eq!(a.nfs_port, Some(20490));
        assert_eq!(a.portmap_port, Some(0));
        assert_eq!(a.state, Some(PathBuf::from("s")));
        assert_eq!(a.config, Some(PathBuf::from("c.toml")));
        assert_eq!(a.log.as_deref(), Some("debug"));
        assert_eq!(a.backend, Some(BackendKind::Memory));
        assert_eq!(a.grace_period, Some(10));
    }

    #[test]
    fn rejects_bad_values() {
        for argv in [
            &["janus", "serve", "--nfs-port", "70000"][..],
            &["janus", "serve", "--bind", "localhost"],
            &["janus", "serve", "--backend", "zfs"],
            &["janus", "serve", "--smb-port", "445"],
        ] {
            let e = Cli::try_parse_from(argv).unwrap_err();
            // clap exits with 2 for usage errors, like our config errors.
            assert_eq!(e.exit_code(), 2, "{argv:?}");
        }
    }
}
