//! `preflight verify-report`: checks that the files a JSON report names are still
//! the files that were checked, by their sha256 (the evidence of an audit).

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const EXAMPLES: &str = "\
Examples:
  preflight check --env env.json --settings settings.yaml --format json --output report.json
  preflight verify-report report.json

Paths in the report are read relative to the current directory: run it where the check ran.
Exit codes: 0 every file unchanged, 1 a file changed or is missing, 2 the report cannot be read.";

#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// A report written by `preflight check --format json`
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
}

/// A file the report names, and the digest it recorded.
struct Recorded {
    /// What the file was to the check: `environment`, `settings`, `policy x`...
    role: String,
    path: String,
    sha256: String,
}

/// What the file is now.
enum Now {
    Unchanged,
    Changed(String),
    Missing(Option<String>),
}

pub fn run(args: Args) -> Result<u8> {
    let shown = args.report.display();
    let text = std::fs::read_to_string(&args.report)
        .with_context(|| format!("cannot read the report `{shown}`"))?;
    let report: Value = serde_json::from_str(&text).map_err(|err| {
        anyhow::anyhow!(
            "`{shown}` is not valid JSON (line {}, column {}): write the report with \
             `preflight check --format json`",
            err.line(),
            err.column()
        )
    })?;
    let recorded =
        recorded(&report).with_context(|| format!("`{shown}` is not a preflight JSON report"))?;

    let mut out = String::new();
    let mut changed = 0;
    for file in &recorded {
        let now = now(file);
        let state = match &now {
            Now::Unchanged => "unchanged".to_owned(),
            Now::Changed(sha256) => format!("CHANGED (was {}, now {sha256})", file.sha256),
            Now::Missing(None) => "MISSING".to_owned(),
            Now::Missing(Some(why)) => format!("MISSING ({why})"),
        };
        if !matches!(now, Now::Unchanged) {
            changed += 1;
        }
        out.push_str(&format!("{} ({}): {state}\n", file.path, file.role));
    }
    out.push_str(&match changed {
        0 => format!("all {} files unchanged\n", recorded.len()),
        n => format!("{n} of {} files changed or missing\n", recorded.len()),
    });
    super::write_output(None, &out)?;
    Ok(if changed == 0 { 0 } else { 1 })
}

/// The files a report names, with their recorded sha256: the inputs, the settings
/// and waivers files, and the policies (component files and built-in ones).
fn recorded(report: &Value) -> Result<Vec<Recorded>> {
    if report.pointer("/tool/name").and_then(Value::as_str) != Some("preflight") {
        bail!("`tool.name` is not `preflight`");
    }
    let Some(inputs) = report["inputs"].as_array() else {
        bail!("it has no `inputs` list");
    };
    let text = |value: &Value, key: &str| value[key].as_str().map(str::to_owned);
    let mut files = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let (Some(document), Some(path), Some(sha256)) = (
            text(input, "document"),
            text(input, "path"),
            text(input, "sha256"),
        ) else {
            bail!("`/inputs/{index}` needs `document`, `path` and `sha256`");
        };
        files.push(Recorded {
            role: document,
            path,
            sha256,
        });
    }
    for key in ["settings", "waivers"] {
        let value = &report[key];
        if let (Some(path), Some(sha256)) = (text(value, "path"), text(value, "sha256")) {
            files.push(Recorded {
                role: key.to_owned(),
                path,
                sha256,
            });
        }
    }
    for policy in report["policies"].as_array().into_iter().flatten() {
        // A policy that could not be loaded has no digest to compare.
        if let (Some(source), Some(sha256)) = (text(policy, "source"), text(policy, "sha256")) {
            let name = text(policy, "name").unwrap_or_default();
            files.push(Recorded {
                role: format!("policy {name}"),
                path: source,
                sha256,
            });
        }
    }
    Ok(files)
}

fn now(file: &Recorded) -> Now {
    let current = match file.path.strip_prefix("builtin:") {
        Some(name) => match crate::builtin::BUILTIN_POLICIES
            .iter()
            .find(|(built, _, _)| *built == name)
        {
            Some((_, _, sha256)) => Ok((*sha256).to_owned()),
            None => {
                return Now::Missing(Some(format!(
                    "not built into preflight {}",
                    env!("CARGO_PKG_VERSION")
                )));
            }
        },
        None => digest(Path::new(&file.path)),
    };
    match current {
        Ok(sha256) if sha256 == file.sha256 => Now::Unchanged,
        Ok(sha256) => Now::Changed(sha256),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Now::Missing(None),
        Err(err) => Now::Missing(Some(format!("cannot be read: {err}"))),
    }
}

/// The sha256 a check records for a path: of a file's bytes, or of a site folder
/// as the site reader computes it.
fn digest(path: &Path) -> std::io::Result<String> {
    if path.is_dir() {
        return crate::inputs::site::read_site(path)
            .map(|site| site.sha256)
            .map_err(|err| std::io::Error::other(err.to_string()));
    }
    let bytes = std::fs::read(path)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}
