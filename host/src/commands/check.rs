//! `preflight check`: runs the policies on the inputs and decides the gate.

use super::{Loaded, PolicyArgs, color_stdout, load_policies, write_output};
use crate::engine::{Document, Engine, Policy};
use crate::inputs::{Input, Settings, load_document};
use crate::model::{PolicyRun, Status};
use crate::report::lines::Lines;
use crate::report::waivers::{self, Waivers};
use crate::report::{
    Evidence, FailOn, Format, InputRecord, PolicyRecord, Report, ReportFinding, SettingsRecord,
};
use anyhow::{Result, bail};
use std::path::PathBuf;

/// One `--format`: a format, and the file it goes to (`None`: stdout or `--output`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    pub format: Format,
    pub path: Option<PathBuf>,
}

impl OutputSpec {
    /// `FORMAT` or `FORMAT=FILE`.
    fn parse(text: &str) -> Result<OutputSpec, String> {
        use clap::ValueEnum;
        let (name, path) = match text.split_once('=') {
            Some((name, "")) => {
                return Err(format!("`{name}=` names no file: write `{name}=FILE`"));
            }
            Some((name, path)) => (name, Some(PathBuf::from(path))),
            None => (text, None),
        };
        let format = Format::from_str(name, true).map_err(|_| {
            let known: Vec<&str> = Format::value_variants()
                .iter()
                .map(|f| f.as_str())
                .collect();
            format!(
                "unknown format `{name}`: expected one of {}",
                known.join(", ")
            )
        })?;
        Ok(OutputSpec { format, path })
    }
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

    /// Output format: text, json, sarif, junit, github, markdown or html; repeatable, each
    /// to its own file with `FORMAT=FILE` (at most one without a file) [default: text]
    #[arg(long, value_name = "FORMAT[=FILE]", value_parser = OutputSpec::parse)]
    pub format: Vec<OutputSpec>,

    /// Write the format given without a file here instead of stdout (atomically)
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Accepted findings, each with a reason, an owner and an expiry date (JSON or YAML; docs/waivers.md)
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,

    /// The lowest severity that fails the gate (exit 1)
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// Show what policies logged or wrote to stdout/stderr, and their timings (stderr)
    #[arg(long, short)]
    pub verbose: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let started = std::time::SystemTime::now();
    let outputs = outputs(&args)?;
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
    let waivers = match &args.waivers {
        Some(path) => Some((Waivers::load(path)?, waivers::today()?)),
        None => None,
    };

    let engine = args.policy.engine()?;
    let loaded = load_policies(&engine, &args.policy)?;
    check_settings(&engine, &loaded, &settings)?;

    let documents: Vec<Document> = inputs
        .iter()
        .map(|input| Document::new(input.name.clone(), input.value.clone()))
        .collect();

    let mut records = Vec::new();
    let mut findings = Vec::new();
    for entry in &loaded {
        match entry {
            Loaded::Ready(policy) => {
                let run =
                    engine.evaluate(policy, &documents, &settings.for_policy(&policy.info.name));
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
                    rules: Vec::new(),
                    documents: Vec::new(),
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
    let mut lines = Lines::new();
    let mut findings: Vec<ReportFinding> = findings
        .into_iter()
        .map(|finding| ReportFinding::locate(finding, &mut lines))
        .collect();
    let waivers = waivers.map(|(waivers, today)| {
        let context = waivers::Context::new(
            inputs
                .iter()
                .map(|input| (input.name.as_str(), input.value.as_ref())),
        );
        waivers.apply(&mut findings, &context, &today)
    });
    let settings = SettingsRecord {
        path: settings
            .path
            .as_ref()
            .map(|path| path.display().to_string()),
        sha256: settings.sha256.clone(),
        policies: loaded
            .iter()
            .filter_map(|entry| match entry {
                Loaded::Ready(policy) => Some(policy.info.name.clone()),
                Loaded::Failed { .. } => None,
            })
            .map(|name| {
                let value = settings.by_policy.get(&name).cloned();
                (name, value.unwrap_or_else(|| serde_json::json!({})))
            })
            .collect(),
    };
    let evidence = Evidence {
        started,
        settings,
        waivers,
    };
    let report = Report::new(input_records, records, findings, args.fail_on, evidence);
    // Everything is rendered before anything is written.
    let rendered: Vec<(Option<PathBuf>, String)> = outputs
        .into_iter()
        .map(|(format, path)| {
            let color = format == Format::Text && color_stdout(path.as_deref());
            (path, report.render(format, color))
        })
        .collect();
    for (path, text) in &rendered {
        write_output(path.as_deref(), text)?;
    }
    Ok(report.summary.exit_code)
}

/// Where each format goes: its own file, or (for the one given without a file)
/// `--output` or stdout. Checked before anything runs.
fn outputs(args: &Args) -> Result<Vec<(Format, Option<PathBuf>)>> {
    let specs = if args.format.is_empty() {
        vec![OutputSpec {
            format: Format::Text,
            path: None,
        }]
    } else {
        args.format.clone()
    };
    let bare: Vec<Format> = specs
        .iter()
        .filter(|spec| spec.path.is_none())
        .map(|spec| spec.format)
        .collect();
    if bare.len() > 1 {
        let names: Vec<&str> = bare.iter().map(|format| format.as_str()).collect();
        bail!(
            "--format {} all go to {}: only one format can; give the others a file, \
             e.g. `--format {}={}`",
            names.join(", "),
            if args.output.is_some() {
                "--output"
            } else {
                "stdout"
            },
            names[1],
            match bare[1] {
                Format::Text => "report.txt",
                Format::Json => "report.json",
                Format::Sarif => "report.sarif",
                Format::Junit => "junit.xml",
                Format::Github => "annotations.txt",
                Format::Markdown => "summary.md",
                Format::Html => "report.html",
            }
        );
    }
    if bare.is_empty() && args.output.is_some() {
        bail!(
            "--output is where the format given without a file goes, and every --format \
             names its own file: drop --output, or add e.g. `--format text`"
        );
    }
    let mut seen: Vec<&PathBuf> = Vec::new();
    let outputs: Vec<(Format, Option<PathBuf>)> = specs
        .iter()
        .map(|spec| {
            (
                spec.format,
                spec.path.clone().or_else(|| args.output.clone()),
            )
        })
        .collect();
    for (_, path) in &outputs {
        if let Some(path) = path {
            if seen.contains(&path) {
                bail!(
                    "two outputs go to `{}`: give each its own file",
                    path.display()
                );
            }
            if path.is_dir() {
                bail!("cannot write `{}`: it is a folder", path.display());
            }
            seen.push(path);
        }
    }
    Ok(outputs)
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
        rules: policy.info.rules.clone(),
        documents: policy.info.documents.clone(),
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
        if policy.from_cache {
            " (compiled code from cache)"
        } else {
            ""
        }
    );
    for line in &run.logs {
        eprintln!("[{}] {}: {}", policy.info.name, line.level, line.message);
    }
}

/// Settings are user input: every problem is reported before any policy runs, with
/// the settings file and the JSON pointer, and ends the check with exit 2.
pub(crate) fn check_settings(
    engine: &Engine,
    loaded: &[Loaded],
    settings: &Settings,
) -> Result<()> {
    let file = settings.path.as_ref().map_or_else(
        || "settings".to_owned(),
        |path| format!("`{}`", path.display()),
    );
    let ready: Vec<&Policy> = loaded
        .iter()
        .filter_map(|entry| match entry {
            Loaded::Ready(policy) => Some(policy.as_ref()),
            Loaded::Failed { .. } => None,
        })
        .collect();
    for name in settings.by_policy.keys() {
        if !ready.iter().any(|policy| &policy.info.name == name) {
            let known: Vec<&str> = ready
                .iter()
                .map(|policy| policy.info.name.as_str())
                .collect();
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
