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
    /// Manage the SMB users file (names, NT hashes, the uid/gid each user runs as).
    User(UserArgs),
}

/// `janus user add|del|list`.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: UserCommand,
}

/// The subcommands of `janus user`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user, or replace the password of an existing one (asks for the password on
    /// the terminal, without echo, unless --password-stdin).
    Add(UserAddArgs),
    /// Remove a user.
    Del(UserDelArgs),
    /// List the users: name, uid, gid (never the hash).
    List(UsersFileArg),
}

/// The `--users FILE` every `janus user` subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct UsersFileArg {
    /// The users file (created by `add` with mode 0600 if missing).
    #[arg(long, value_name = "FILE")]
    pub users: PathBuf,
}

/// Flags of `janus user add`.
#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    /// The users file.
    #[command(flatten)]
    pub file: UsersFileArg,
    /// The user's name (compared without regard to case, as Windows does).
    pub name: String,
    /// Read the password from the first line of standard input instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
    /// Unix uid of the user's file operations [default: the local account of the same
    /// name's, else the share's anon_uid].
    #[arg(long, value_name = "UID")]
    pub uid: Option<u32>,
    /// Unix gid of the user's file operations [default: the local account of the same
    /// name's, else the share's anon_gid].
    #[arg(long, value_name = "GID")]
    pub gid: Option<u32>,
}

/// Flags of `janus user del`.
#[derive(Debug, Clone, Args)]
pub struct UserDelArgs {
    /// The users file.
    #[command(flatten)]
    pub file: UsersFileArg,
    /// The user to remove.
    pub name: String,
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
    /// Port of SMB 2/3, 0 = off [default: 445].
    #[arg(long, value_name = "P")]
    pub smb_port: Option<u16>,
    /// The SMB users file written by `janus user add` (config key `users`).
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
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
    /// Map a client's uid/gid 0 to the anonymous ids on the shares given with --share; the
    /// flag overrides their `root_squash` key in the config file [default: on].
    #[arg(long, value_enum, value_name = "on|off")]
    pub root_squash: Option<Switch>,
    /// Map every client's uid/gid to the anonymous ids on the shares given with --share;
    /// the flag overrides their `all_squash` key in the config file [default: off].
    #[arg(long, value_enum, value_name = "on|off")]
    pub all_squash: Option<Switch>,
}

/// The value of an on/off flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

impl Switch {
    /// `true` for [`Switch::On`].
    pub fn is_on(self) -> bool {
        self == Switch::On
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
            "--root-squash",
            "off",
            "--all-squash",
            "on",
            "--smb-port",
            "4450",
            "--users",
            "u.txt",
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
        assert_eq!(a.root_squash, Some(Switch::Off));
        assert_eq!(a.all_squash, Some(Switch::On));
        assert_eq!(a.smb_port, Some(4450));
        assert_eq!(a.users, Some(PathBuf::from("u.txt")));
    }

    #[test]
    fn user_subcommands() {
        let Command::User(u) = Cli::try_parse_from([
            "janus",
            "user",
            "add",
            "--users",
            "f",
            "alice",
            "--password-stdin",
            "--uid",
            "5",
            "--gid",
            "6",
        ])
        .unwrap()
        .command
        else {
            panic!("expected user")
        };
        let UserCommand::Add(a) = u.command else {
            panic!("expected add")
        };
        assert_eq!(a.file.users, PathBuf::from("f"));
        assert_eq!((a.name.as_str(), a.password_stdin), ("alice", true));
        assert_eq!((a.uid, a.gid), (Some(5), Some(6)));
        let Command::User(u) = Cli::try_parse_from(["janus", "user", "del", "--users", "f", "bob"])
            .unwrap()
            .command
        else {
            panic!("expected user")
        };
        assert!(matches!(u.command, UserCommand::Del(d) if d.name == "bob"));
        let Command::User(u) = Cli::try_parse_from(["janus", "user", "list", "--users", "f"])
            .unwrap()
            .command
        else {
            panic!("expected user")
        };
        assert!(matches!(u.command, UserCommand::List(f) if f.users == Path::new("f")));
        for argv in [
            &["janus", "user", "add", "alice"][..],
            &["janus", "user", "add", "--users", "f"],
            &["janus", "user", "del", "--users", "f"],
            &["janus", "user", "list"],
            &["janus", "user", "add", "--users", "f", "a", "--uid", "-1"],
        ] {
            assert_eq!(
                Cli::try_parse_from(argv).unwrap_err().exit_code(),
                2,
                "{argv:?}"
            );
        }
    }

    #[test]
    fn squash_flags_are_optional_and_take_on_or_off() {
        let Command::Serve(a) = Cli::try_parse_from(["janus", "serve"]).unwrap().command else {
            panic!("expected serve")
        };
        assert_eq!((a.root_squash, a.all_squash), (None, None));
        let Command::Serve(a) = Cli::try_parse_from(["janus", "serve", "--root-squash", "on"])
            .unwrap()
            .command
        else {
            panic!("expected serve")
        };
        assert_eq!(a.root_squash, Some(Switch::On));
        assert!(Switch::On.is_on() && !Switch::Off.is_on());
    }

    #[test]
    fn rejects_bad_values() {
        for argv in [
            &["janus", "serve", "--nfs-port", "70000"][..],
            &["janus", "serve", "--bind", "localhost"],
            &["janus", "serve", "--backend", "zfs"],
            &["janus", "serve", "--smb-port", "70000"],
            &["janus", "serve", "--root-squash"],
            &["janus", "serve", "--root-squash", "yes"],
            &["janus", "serve", "--all-squash", "1"],
        ] {
            let e = Cli::try_parse_from(argv).unwrap_err();
            // clap exits with 2 for usage errors, like our config errors.
            assert_eq!(e.exit_code(), 2, "{argv:?}");
        }
    }
}
