//! One file per subcommand, plus what several of them share.

pub mod audit;
pub mod check;
pub mod import;
pub mod merge;
pub mod plan;
pub mod policy;
pub mod policy_test;
pub mod pull;
pub mod rules;
pub mod verify;

use crate::engine::{Allocation, Engine, EngineOptions, Limits, Policy};
use crate::model::PolicySource;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which policies to load, and the limits they run under.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// A policy component (`.wasm`), a folder of them, or a published one
    /// (`URL#sha256=HEX`, or `URL` pinned in `preflight.lock`); repeatable
    #[arg(long = "policy", value_name = "PATH_OR_DIR")]
    pub policies: Vec<PathBuf>,

    /// Do not load the built-in policies
    #[arg(long)]
    pub no_builtin: bool,

    /// Compile every policy instead of using the compile cache
    #[arg(long)]
    pub no_cache: bool,

    /// Fuel per policy call (about one unit per wasm instruction)
    #[arg(long, value_name = "UNITS", default_value_t = Limits::default().fuel)]
    pub fuel: u64,

    /// Linear memory per policy, in MiB
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory >> 20)]
    pub max_memory: usize,

    /// Wall-clock time per policy call, in seconds (fractions allowed)
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().timeout.as_secs_f64())]
    pub timeout: f64,

    /// Findings per policy
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_findings)]
    pub max_findings: usize,
}

impl PolicyArgs {
    /// The defaults, for commands that load a policy without these flags.
    pub fn defaults() -> PolicyArgs {
        let limits = Limits::default();
        PolicyArgs {
            policies: Vec::new(),
            no_builtin: true,
            no_cache: false,
            fuel: limits.fuel,
            max_memory: limits.memory >> 20,
            timeout: limits.timeout.as_secs_f64(),
            max_findings: limits.max_findings,
        }
    }

    pub fn engine(&self) -> Result<Engine> {
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            bail!("--timeout must be a positive number of seconds");
        }
        // Huge values must be refused, not panic (`from_secs_f64`) or wrap to 0 (`<<`).
        let Ok(timeout) = Duration::try_from_secs_f64(self.timeout) else {
            bail!("--timeout {} is too large", self.timeout);
        };
        let Some(memory) = self.max_memory.checked_mul(1 << 20) else {
            bail!("--max-memory {} is too large", self.max_memory);
        };
        let limits = Limits {
            fuel: self.fuel,
            memory,
            timeout,
            max_findings: self.max_findings,
            ..Limits::default()
        };
        let cache_dir = if self.no_cache {
            None
        } else {
            crate::engine::Cache::default_dir()
        };
        Engine::new(EngineOptions {
            limits,
            cache_dir,
            allocation: Allocation::OnDemand,
        })
        .context("starting the WebAssembly engine")
    }

    /// The component files named by `--policy`, folders expanded (sorted, `*.wasm`).
    /// A path that does not exist is a usage error.
    pub fn files(&self) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for path in &self.policies {
            if let Some(url) = path.to_str().filter(|text| pull::is_url(text)) {
                // A published policy, pinned by its digest: from the store, pulled when missing.
                files.push(pull::resolve(url)?);
            } else if path.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                    .with_context(|| format!("reading the policy folder `{}`", path.display()))?
                    .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                    .filter(|file| file.extension().is_some_and(|ext| ext == "wasm"))
                    .collect();
                found.sort();
                if found.is_empty() {
                    bail!(
                        "the policy folder `{}` has no `.wasm` files",
                        path.display()
                    );
                }
                files.extend(found);
            } else if path.is_file() {
                files.push(path.clone());
            } else {
                bail!("the policy `{}` does not exist", path.display());
            }
        }
        Ok(files)
    }
}

/// A policy that loaded, or the reason it did not.
pub enum Loaded {
    Ready(Box<Policy>),
    Failed {
        source: PolicySource,
        reason: String,
    },
}

/// Loads the built-in pack (unless `--no-builtin`) and every `--policy`. A policy
/// that cannot be loaded is kept as `Failed`, so the others still run; two policies
/// with the same name are a usage error.
pub fn load_policies(engine: &Engine, args: &PolicyArgs) -> Result<Vec<Loaded>> {
    let mut loaded = Vec::new();
    if !args.no_builtin {
        for (file, bytes, sha256) in crate::builtin::BUILTIN_POLICIES {
            let source = PolicySource::Builtin((*file).to_owned());
            loaded.push(match engine.load(source.clone(), bytes, Some(sha256)) {
                Ok(policy) => Loaded::Ready(Box::new(policy)),
                Err(err) => Loaded::Failed {
                    source,
                    reason: format!("cannot be loaded: {err}"),
                },
            });
        }
    }
    for file in args.files()? {
        let source = PolicySource::File(file.clone());
        let result = std::fs::read(&file)
            .map_err(|err| format!("cannot be read: {err}"))
            .and_then(|bytes| {
                engine
                    .load(source.clone(), &bytes, None)
                    .map_err(|err| format!("cannot be loaded: {err}"))
            });
        loaded.push(match result {
            Ok(policy) => Loaded::Ready(Box::new(policy)),
            Err(reason) => Loaded::Failed { source, reason },
        });
    }
    let mut seen: Vec<(&str, String)> = Vec::new();
    for policy in &loaded {
        if let Loaded::Ready(policy) = policy {
            if let Some((_, first)) = seen.iter().find(|(name, _)| *name == policy.info.name) {
                bail!(
                    "two policies are named `{}`: `{first}` and `{}`; load only one of them",
                    policy.info.name,
                    policy.source.label()
                );
            }
            seen.push((&policy.info.name, policy.source.label()));
        }
    }
    Ok(loaded)
}

/// Writes output to a file atomically (a temporary file renamed into place, so a
/// reader never sees half a report), or to stdout when no file is given.
pub fn write_output(path: Option<&Path>, text: &str) -> Result<()> {
    match path {
        Some(path) => write_bytes(path, text.as_bytes()),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// Whether `path` exists and is not a regular file (`/dev/null`, a FIFO, a
/// terminal): written in place, never replaced by a rename.
pub fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| !meta.is_file() && !meta.is_dir())
}

/// Writes bytes to a file atomically (a device or a FIFO is written in place).
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    if is_special(path) {
        return std::fs::write(path, bytes)
            .with_context(|| format!("cannot write `{}`", path.display()));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot write `{}`", path.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

/// Whether to colour text written to stdout.
pub fn color_stdout(output: Option<&Path>) -> bool {
    use std::io::IsTerminal;
    output.is_none()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        && std::io::stdout().is_terminal()
}
