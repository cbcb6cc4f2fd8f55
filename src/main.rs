//! The `sluice` binary: see `sluice --help` and the crate docs.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    sluice::cli::main()
}
