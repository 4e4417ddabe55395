//! `preflight check`: runs the policies on the inputs and decides the gate.

use super::{Loaded, PolicyArgs, color_stdout, load_policies, write_output};
use crate::engine::{Document, Engine, Policy};
use crate::inputs::{Input, Settings, load_document};
use crate::model::{PolicyRun, Status};
use crate::report::{FailOn, InputRecord, PolicyRecord, Report, render_text};
use anyhow::{Result, bail};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Environment snapshot (JSON or YAML)
    #[arg(long, value_name = "FILE")]
    pub env: Option<PathBuf>,

    /// The provisioned site: a `pac pages download` folder, or a JSON or YAML document
    #[arg(long, value_name = "DIR_OR_FILE")]
    pub site: Option<PathBuf>,

    /// The new template: a `pac pages download` folder, or a document
    #[arg(long, value_name = "DIR_OR_FILE")]
    pub template: Option<PathBuf>,

    /// The template the site was provisioned from: a folder, or a document
    #[arg(long, value_name = "DIR_OR_FILE")]
    pub base_template: Option<PathBuf>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// Policy settings: an object keyed by policy name (JSON or YAML)
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the results here instead of stdout (atomically)
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The lowest severity that fails the gate (exit 1)
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// Show what policies logged or wrote to stdout/stderr, and their timings (stderr)
    #[arg(long, short)]
    pub verbose: bool,
}

pub fn run(args: Args) -> Result<u8> {
    // Inputs first: bad input fails fast (exit 2) before any policy runs.
    let mut inputs: Vec<Input> = Vec::new();
    for (name, path) in [
        ("environment", &args.env),
        ("site", &args.site),
        ("template", &args.template),
        ("base-template", &args.base_template),
    ] {
        if let Some(path) = path {
            // A site folder is read with the `pac pages download` reader.
            if name != "environment" && path.is_dir() {
                inputs.push(crate::inputs::site::load_site(name, path)?);
            } else {
                let input = load_document(name, path)?;
                // The snapshot's shape is checked once, before any policy runs.
                if name == "environment" {
                    crate::inputs::schema::check_environment(&input)?;
                }
                inputs.push(input);
            }
        }
    }
    if inputs.is_empty() {
        bail!("nothing to check: give at least one of --env, --site, --template");
    }
    let settings = match &args.settings {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };

    let engine = args.policy.engine()?;
    let loaded = load_policies(&engine, &args.policy)?;
    check_settings(&engine, &loaded, &settings)?;

    let documents: Vec<Document> = inputs
        .iter()
        .map(|input| Document {
            name: input.name.clone(),
            value: input.value.clone(),
        })
        .collect();

    let mut records = Vec::new();
    let mut findings = Vec::new();
    for entry in &loaded {
        match entry {
            Loaded::Ready(policy) => {
                let run = engine.evaluate(policy, &documents, &settings.for_policy(&policy.info.name));
                if args.verbose {
                    log_run(policy, &run);
                }
                for mut finding in run.findings.clone() {
                    finding.file = inputs
                        .iter()
                        .find(|input| input.name == finding.document)
                        .map(|input| input.path.display().to_string());
                    findings.push(finding);
                }
                records.push(record(policy, &run));
            }
            Loaded::Failed { source, reason } => {
                let run = PolicyRun::error(reason.clone());
                records.push(PolicyRecord {
                    name: source.label(),
                    version: None,
                    source: source.label(),
                    sha256: None,
                    status: run.status,
                    reason: run.reason,
                    duration_ms: 0.0,
                    fuel_used: 0,
                    findings: 0,
                    logs: Vec::new(),
                });
            }
        }
    }

    let input_records = inputs
        .iter()
        .map(|input| InputRecord {
            document: input.name.clone(),
            path: input.path.display().to_string(),
            sha256: input.sha256.clone(),
        })
        .collect();
    let report = Report::new(input_records, records, findings, args.fail_on);
    let text = match args.format {
        Format::Json => report.to_json(),
        Format::Text => render_text(&report, color_stdout(args.output.as_deref())),
    };
    write_output(args.output.as_deref(), &text)?;
    Ok(report.summary.exit_code)
}

fn record(policy: &Policy, run: &PolicyRun) -> PolicyRecord {
    PolicyRecord {
        name: policy.info.name.clone(),
        version: Some(policy.info.version.clone()),
        source: policy.source.label(),
        sha256: Some(policy.sha256.clone()),
        status: run.status,
        reason: run.reason.clone(),
        duration_ms: (run.duration.as_secs_f64() * 1e6).round() / 1e3,
        fuel_used: run.fuel_used,
        findings: run.findings.len(),
        logs: run.logs.clone(),
    }
}

fn log_run(policy: &Policy, run: &PolicyRun) {
    let status = match run.status {
        Status::Ok => "ok",
        Status::Skipped => "skipped",
        Status::Error => "error",
    };
    eprintln!(
        "[{}] {status} in {:.3} ms, {} fuel, {} findings{}",
        policy.info.name,
        run.duration.as_secs_f64() * 1e3,
        run.fuel_used,
        run.findings.len(),
        if policy.from_cache { " (compiled code from cache)" } else { "" }
    );
    for line in &run.logs {
        eprintln!("[{}] {}: {}", policy.info.name, line.level, line.message);
    }
}

/// Settings are user input: every problem is reported before any policy runs, with
/// the settings file and the JSON pointer, and ends the check with exit 2.
fn check_settings(engine: &Engine, loaded: &[Loaded], settings: &Settings) -> Result<()> {
    let file = settings
        .path
        .as_ref()
        .map_or_else(|| "settings".to_owned(), |path| format!("`{}`", path.display()));
    let ready: Vec<&Policy> = loaded
        .iter()
        .filter_map(|entry| match entry {
            Loaded::Ready(policy) => Some(policy.as_ref()),
            Loaded::Failed { .. } => None,
        })
        .collect();
    for name in settings.by_policy.keys() {
        if !ready.iter().any(|policy| &policy.info.name == name) {
            let known: Vec<&str> = ready.iter().map(|policy| policy.info.name.as_str()).collect();
            bail!(
                "{file}: settings for `{name}`, which is not a loaded policy (loaded: {})",
                known.join(", ")
            );
        }
    }
    for policy in ready {
        let name = &policy.info.name;
        let value = settings
            .by_policy
            .get(name)
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        if let Some(schema) = &policy.info.settings_schema {
            let validator = jsonschema::draft202012::new(schema).map_err(|err| {
                anyhow::anyhow!("policy `{name}` publishes an invalid settings schema: {err}")
            })?;
            if let Some(err) = validator.iter_errors(&value).next() {
                bail!(
                    "{file}: invalid settings for `{name}` at `/{name}{}`: {err}",
                    err.instance_path()
                );
            }
        }
        if let Err(message) = engine.validate_settings(policy, &value.to_string()) {
            bail!("{file}: invalid settings for `{name}`: {message}");
        }
    }
    Ok(())
}
