//! `preflight rules`: every rule of the loaded policies.

use super::{Loaded, PolicyArgs, load_policies, write_output};
use anyhow::Result;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub policy: PolicyArgs,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: Args) -> Result<u8> {
    let engine = args.policy.engine()?;
    let loaded = load_policies(&engine, &args.policy)?;
    let mut failed = false;
    let text = match args.format {
        Format::Json => {
            let policies: Vec<serde_json::Value> = loaded
                .iter()
                .map(|entry| match entry {
                    Loaded::Ready(policy) => json!({
                        "name": policy.info.name,
                        "version": policy.info.version,
                        "description": policy.info.description,
                        "source": policy.source.label(),
                        "sha256": policy.sha256,
                        "size": policy.size,
                        "imports": policy.imports,
                        "documents": policy.info.documents,
                        "settingsSchema": policy.info.settings_schema,
                        "rules": policy.info.rules,
                    }),
                    Loaded::Failed { source, reason } => {
                        failed = true;
                        json!({ "source": source.label(), "error": reason })
                    }
                })
                .collect();
            let mut text = serde_json::to_string_pretty(&json!({ "policies": policies }))?;
            text.push('\n');
            text
        }
        Format::Text => {
            let mut out = String::new();
            let width = loaded
                .iter()
                .filter_map(|entry| match entry {
                    Loaded::Ready(policy) => Some(policy.info.name.len()),
                    Loaded::Failed { .. } => None,
                })
                .max()
                .unwrap_or(0);
            for entry in &loaded {
                match entry {
                    Loaded::Ready(policy) => {
                        for rule in &policy.info.rules {
                            out.push_str(&format!(
                                "{:<8} {:<8} {:<width$} {}\n",
                                rule.id,
                                rule.default_severity.as_str(),
                                policy.info.name,
                                rule.title
                            ));
                        }
                    }
                    Loaded::Failed { source, reason } => {
                        failed = true;
                        eprintln!("error: policy `{}` {reason}", source.label());
                    }
                }
            }
            out
        }
    };
    write_output(None, &text)?;
    Ok(if failed { 2 } else { 0 })
}
