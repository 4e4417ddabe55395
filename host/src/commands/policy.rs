//! `preflight policy ...`: tools for policy authors.

use super::{PolicyArgs, write_output};
use crate::model::PolicySource;
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Build a Rust policy crate into a component (no WASI imports), reproducibly
    Build(BuildArgs),
    /// Show what a policy component is: name, rules, documents, settings, imports, digest
    Inspect(InspectArgs),
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The policy crate (a folder with Cargo.toml)
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// Where to write the component [default: <dir>/target/<crate>.wasm]
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The component file
    pub file: PathBuf,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: Args) -> Result<u8> {
    match args.command {
        Command::Build(args) => build(args),
        Command::Inspect(args) => inspect(args),
    }
}

fn build(args: BuildArgs) -> Result<u8> {
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("the policy folder `{}` does not exist", args.dir.display()))?;
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("`{}` has no Cargo.toml", dir.display());
    }
    let target_dir = dir.join("target");
    let built = preflight_componentize::build(&preflight_componentize::Build {
        manifest_path: manifest,
        packages: Vec::new(),
        target_dir: target_dir.clone(),
        target: preflight_componentize::Target::Unknown,
        features: Vec::new(),
        remap: vec![(dir.clone(), "/policy".to_owned())],
    })?;
    let policy = built.into_iter().next().context("cargo built nothing")?;
    let output = args
        .output
        .unwrap_or_else(|| target_dir.join(format!("{}.wasm", policy.lib_name)));
    super::write_bytes(&output, &policy.component)?;
    eprintln!(
        "built `{}` ({} bytes, sha256 {})",
        output.display(),
        policy.component.len(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&policy.component))
    );
    Ok(0)
}

fn inspect(args: InspectArgs) -> Result<u8> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read `{}`", args.file.display()))?;
    let engine = PolicyArgs::defaults().engine()?;
    let policy = engine
        .load(PolicySource::File(args.file.clone()), &bytes, None)
        .map_err(|err| anyhow::anyhow!("`{}` {err}", args.file.display()))?;
    let text = match args.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&json!({
                "name": policy.info.name,
                "version": policy.info.version,
                "description": policy.info.description,
                "sha256": policy.sha256,
                "size": policy.size,
                "imports": policy.imports,
                "usesWasi": policy.uses_wasi,
                "documents": policy.info.documents,
                "settingsSchema": policy.info.settings_schema,
                "rules": policy.info.rules,
            }))?;
            text.push('\n');
            text
        }
        Format::Text => {
            let info = &policy.info;
            let mut out = format!(
                "{} {}\n  {}\n\nsha256   {}\nsize     {} bytes\n",
                info.name, info.version, info.description, policy.sha256, policy.size
            );
            out.push_str("imports  ");
            if policy.imports.is_empty() {
                out.push_str("none\n");
            } else {
                out.push_str(&policy.imports.join("\n         "));
                out.push('\n');
            }
            if policy.uses_wasi {
                out.push_str(
                    "         (WASI runs with a deny-all context: no files, network, \
                     environment or arguments)\n",
                );
            }
            let documents: Vec<String> = info
                .documents
                .iter()
                .map(|need| {
                    if need.optional {
                        format!("{} (optional)", need.name)
                    } else {
                        need.name.clone()
                    }
                })
                .collect();
            out.push_str(&format!("reads    {}\n", documents.join(", ")));
            out.push_str(&format!(
                "settings {}\n\nrules\n",
                if info.settings_schema.is_some() {
                    "yes (JSON Schema published; see --format json)"
                } else {
                    "none"
                }
            ));
            for rule in &info.rules {
                out.push_str(&format!(
                    "  {:<8} {:<8} {}\n",
                    rule.id,
                    rule.default_severity.as_str(),
                    rule.title
                ));
            }
            out
        }
    };
    write_output(None, &text)?;
    Ok(0)
}
