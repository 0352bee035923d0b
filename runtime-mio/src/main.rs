//! The `janus` binary.

fn main() {
    eprintln!("janus: not built yet");
    std::process::exit(2);
}
