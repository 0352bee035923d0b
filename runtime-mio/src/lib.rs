//! The Janus runtime: only what touches the operating system. A small mio event loop
//! drives the sans-IO server core (`server::Core`), worker threads run the file-system jobs
//! the core emits, and the rest is sockets, files and start-up.
//!
//! - [`cli`] and [`config`]: the command line, the TOML file and their resolution.
//! - [`listen`]: binding the ports, and the one-line bind errors.
//! - [`state`] and [`journal`]: the state directory, boot counter and the journal file with
//!   its group-committed `fdatasync` (what goes in it is the core's decision).
//! - [`event_loop`]: the mio loop and connection table around `server::Core`, closing the
//!   connections `server::admission` picks under hostile load.
//! - [`workers`]: the threads that run `server::Job`s.
//! - [`nlm_callbacks`]: the sockets of the core's outbound calls (NLM/NSM callbacks).
//! - [`serve`]: start-up of `janus serve`; [`run_cli`] is the whole binary (`janus replay`
//!   is the `replay` crate).
//! - [`users_file`]: the SMB users file on disk and `janus user add|del|list`.

pub mod cli;
pub mod config;
pub mod event_loop;
pub mod journal;
pub mod listen;
pub mod nlm_callbacks;
pub mod serve;
pub mod state;
pub mod users_file;
pub mod workers;

use clap::Parser;

/// The `janus` binary: parses the command line, sets up logging, starts and runs the
/// server. Returns the process exit code: 0 after a clean shutdown, 2 for a usage or
/// configuration error, 1 when the server cannot start or fails.
pub fn run_cli() -> i32 {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        cli::Command::Serve(args) => serve_command(&args),
        cli::Command::Replay(args) => replay::run(&args),
        cli::Command::User(args) => users_file::run(&args.command),
    }
}

fn serve_command(args: &cli::ServeArgs) -> i32 {
    let mut config = match config::Config::from_args(args, std::env::var("RUST_LOG").ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("janus: {e}");
            return 2;
        }
    };
    // The filter was validated by `Config::resolve`.
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(config::DEFAULT_LOG));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    for warning in config::squash_warnings(&config) {
        tracing::warn!("{warning}");
    }
    let (max_connections, warning) = serve::connections_within(serve::raise_nofile(), &config);
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    config.limits.max_connections = max_connections;

    let backends = serve::Backends {
        open_share: &config::BackendKind::open_share,
    };
    let mut running = match serve::start(&config, backends) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("janus: {e}");
            return e.exit_code();
        }
    };
    if let Err(e) = running.event_loop.handle_signals() {
        eprintln!("janus: cannot install signal handlers: {e}");
        return 1;
    }
    print!("{}", running.mount_hints());
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    match running.run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("janus: {e}");
            1
        }
    }
}

#[cfg(test)]
mod loop_tests;
