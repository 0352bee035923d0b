//! The Janus runtime: a small mio event loop that drives the sans-IO protocol machines, the
//! file-system backends they act on, the state journal, configuration, and the `janus`
//! binary.
//!
//! - [`cli`] and [`config`]: the command line, the TOML file and their resolution.
//! - [`listen`]: binding the ports, and the one-line bind errors.
//! - [`state`] and [`journal`]: the state directory, boot counter and record journal.
//! - [`event_loop`]: the mio loop around `proto_nfs::server::RpcServer`; [`admission`]:
//!   which connection gives way under hostile load, and record deadlines.
//! - [`workers`] and [`service`]: the file-system worker pool and what it executes.
//! - [`serve`]: start-up of `janus serve`; [`run_cli`] is the whole binary.
//! - [`vfs`]: the file-system backends.

pub mod admission;
pub mod backends;
pub mod cli;
pub mod config;
pub mod event_loop;
pub mod journal;
pub mod listen;
pub mod nfs3_exec;
pub mod nlm;
pub mod nlm_callbacks;
pub mod nlm_compact;
pub mod nlm_journal;
pub mod replay;
pub mod serve;
pub mod service;
pub mod state;
pub use vfs;
pub mod workers;
pub mod write_behind;

use std::sync::Arc;

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
    }
}

fn serve_command(args: &cli::ServeArgs) -> i32 {
    let config = match config::Config::from_args(args, std::env::var("RUST_LOG").ok()) {
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

    let backends = serve::Backends {
        open_share: &backends::open_share,
        make_service: &|verifier, shares| -> Arc<dyn workers::FsService> {
            backends::make_service(verifier, shares)
        },
        external: Box::new(nlm::NlmHook::new(
            config.nlm_settings(),
            config.shares.iter().map(|s| nlm::NlmShare {
                share_id: s.share_id,
                read_only: s.read_only,
            }),
        )),
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
