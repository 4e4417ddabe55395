//! The CLI definition is consistent (clap's own checks). Being an integration test
//! of the `preflight` package, it also makes `cargo test --workspace` build the
//! `preflight` binary that the end-to-end tests in `tests/` run.

use clap::CommandFactory;
use preflight::cli::Cli;

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}
