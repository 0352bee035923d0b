//! The `janus` binary: everything is in the library ([`runtime_mio::run_cli`]) so tests can
//! call it.

fn main() {
    std::process::exit(runtime_mio::run_cli());
}
