//! The `seedvault` binary: everything happens in `seedvault::cli`.

fn main() -> std::process::ExitCode {
    seedvault::cli::main()
}
