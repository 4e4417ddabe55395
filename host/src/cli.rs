//! The command line: clap derive, one file per subcommand under `commands/`.

use crate::commands;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  preflight check --env examples/contoso-not-ready/environment.json
  preflight import --environments envs.json --environment 'Contoso Sales (UAT)' --solutions solutions.json --skus skus.json --maps maps.json --overrides overrides.yaml -o env.json
  preflight check --env env.yaml --format json --output report.json --fail-on warning
  preflight check --env env.json --policy ./my-policies/ --settings settings.yaml
  preflight check --env env.json --waivers waivers.yaml --format sarif=preflight.sarif --format junit=junit.xml
  preflight verify-report report.json
  preflight rules --format json
  preflight check --site site/ --template new-template/ --base-template old-template/
  preflight plan --site site/ --template new-template/ --base-template old-template/
  preflight policy build examples/policies/rust-minimal
  preflight policy inspect my-policy.wasm
  preflight policy new my-policy --lang js && preflight policy test my-policy
  preflight check --env env.json --policy 'https://example.com/p.wasm#sha256=<hex>'
  preflight audit fleet/ --format jsonl=audit.jsonl --format html=audit.html
  preflight audit fleet/ --shard 2/4 --format jsonl=shard-2.jsonl
  preflight merge shard-*.jsonl --format html=audit.html

Exit codes: 0 gate passed, 1 a finding at or above --fail-on, 2 the check could not be completed.";

#[derive(Debug, Parser)]
#[command(
    name = "preflight",
    version,
    about = "Pre-deployment policy gate for Dynamics 365 and Power Platform sites",
    long_about = "Runs sandboxed WebAssembly policies against exported environment and site \
                  configuration, before any provisioning or migration.",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check input documents against the policies and decide the gate
    Check(commands::check::Args),
    /// Check a fleet of environment snapshots on every core, streaming JSON Lines
    Audit(commands::audit::Args),
    /// Combine the JSON Lines outputs of `audit --shard` into one report
    Merge(commands::merge::Args),
    /// List the rules of the loaded policies
    Rules(commands::rules::Args),
    /// List the changes to apply by hand to bring a site to a new template
    Plan(commands::plan::Args),
    /// Write policies: create, build, test, inspect, and pull published ones
    Policy(commands::policy::Args),
    /// Check that the files a JSON report names are unchanged (sha256)
    VerifyReport(commands::verify::Args),
    /// Build an environment snapshot from raw platform exports (docs/import.md)
    Import(commands::import::Args),
}

/// Parses the arguments and runs the command. Errors go to stderr; the exit code
/// follows the convention in `EXAMPLES` (clap's own usage errors also exit 2).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => commands::check::run(args),
        Command::Audit(args) => commands::audit::run(args),
        Command::Merge(args) => commands::merge::run(args),
        Command::Rules(args) => commands::rules::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Policy(args) => commands::policy::run(args),
        Command::VerifyReport(args) => commands::verify::run(args),
        Command::Import(args) => commands::import::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
