//! The `seedvault` binary: the command-line front end.
//!
//! The CLI is a module of the binary, not of the library (as rage keeps its
//! CLI out of its library crate), so nothing in the library can import it:
//! the layering "front ends -> vault -> everything else" is enforced by the
//! compiler. See `docs/architecture.md`, section Dependencies.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
