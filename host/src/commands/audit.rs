//! `preflight audit`: the pack over a fleet of snapshots, on every core, streamed as
//! JSON Lines; `--shard K/N` for one part of a fleet; and the outputs `merge` shares.

use super::{Loaded, PolicyArgs, load_policies, write_output};
use crate::audit::{
    self, AuditSummary, Header, Line, Plan, Shard, Tally, TargetResult, ToolRecord,
};
use crate::inputs::Settings;
use crate::report::{FailOn, Gate, SettingsRecord, waivers};
use anyhow::{Context, Result, bail};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// What an audit can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// JSON Lines, streamed: a header, one line per environment, a summary (docs/audit.md)
    Jsonl,
    /// One self-contained HTML report: summary per environment and per rule, a chart, rule docs
    Html,
    /// A Markdown summary, for a CI job summary
    Markdown,
}

impl AuditFormat {
    fn as_str(self) -> &'static str {
        match self {
            AuditFormat::Jsonl => "jsonl",
            AuditFormat::Html => "html",
            AuditFormat::Markdown => "markdown",
        }
    }
}

/// One `--format` of `audit` or `merge`: `FORMAT` or `FORMAT=FILE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditOutput {
    pub format: AuditFormat,
    pub path: Option<PathBuf>,
}

impl AuditOutput {
    fn parse(text: &str) -> Result<AuditOutput, String> {
        use clap::ValueEnum;
        let (name, path) = match text.split_once('=') {
            Some((name, "")) => {
                return Err(format!("`{name}=` names no file: write `{name}=FILE`"));
            }
            Some((name, path)) => (name, Some(PathBuf::from(path))),
            None => (text, None),
        };
        let format = AuditFormat::from_str(name, true).map_err(|_| {
            format!("unknown format `{name}`: expected one of jsonl, html, markdown")
        })?;
        Ok(AuditOutput { format, path })
    }
}

/// Where the outputs of an audit or a merge go.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Output format: jsonl, html or markdown; repeatable, each to its own file with
    /// `FORMAT=FILE` (at most one without a file) [default: jsonl to stdout]
    #[arg(long, value_name = "FORMAT[=FILE]", value_parser = AuditOutput::parse)]
    pub format: Vec<AuditOutput>,

    /// Write the format given without a file here instead of stdout (atomically)
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// No progress bar and no summary on stderr
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Environment snapshots, folders holding `environment.json` (with `site/` beside
    /// it), or folders to search for both
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Audit only the K-th of N parts of the targets (split by a stable hash of each
    /// target's path, so the jobs of a matrix agree without talking)
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,

    /// Threads [default: one per core]
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,

    /// A fresh policy instance for every evaluation (as `check`), instead of one kept
    /// per policy and thread; slower, for policies suspected of keeping state
    #[arg(long)]
    pub isolate: bool,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// Policy settings: an object keyed by policy name (JSON or YAML)
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,

    /// The lowest severity that fails an environment's gate (and the audit's: exit 1)
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(args: Args) -> Result<u8> {
    let started = SystemTime::now();
    let clock = Instant::now();
    let outputs = outputs(&args.out)?;
    let mut targets = audit::discover(&args.paths)?;
    if let Some(shard) = args.shard {
        targets.retain(|target| shard.contains(&target.id));
    }
    let settings = match &args.settings {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };

    let engine = args.policy.engine()?;
    let loaded = load_policies(&engine, &args.policy)?;
    let failed: Vec<String> = loaded
        .iter()
        .filter_map(|entry| match entry {
            Loaded::Failed { source, reason } => Some(format!("`{}` {reason}", source.label())),
            Loaded::Ready(_) => None,
        })
        .collect();
    if !failed.is_empty() {
        bail!(
            "the audit cannot start: a policy could not be loaded:\n  - {}",
            failed.join("\n  - ")
        );
    }
    super::check::check_settings(&engine, &loaded, &settings)?;
    let policies: Vec<&crate::engine::Policy> = loaded
        .iter()
        .filter_map(|entry| match entry {
            Loaded::Ready(policy) => Some(policy.as_ref()),
            Loaded::Failed { .. } => None,
        })
        .collect();
    if policies.is_empty() {
        bail!("no policies to run: drop --no-builtin or give --policy");
    }

    let header = Header {
        tool: ToolRecord {
            name: "preflight".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        started_at: waivers::rfc3339(started),
        shard: args.shard,
        targets: targets.len(),
        fail_on: args.fail_on,
        isolate: args.isolate,
        policies: policies
            .iter()
            .map(|policy| audit::policy_entry(policy))
            .collect(),
        settings: SettingsRecord {
            path: settings
                .path
                .as_ref()
                .map(|path| path.display().to_string()),
            sha256: settings.sha256.clone(),
            policies: policies
                .iter()
                .map(|policy| {
                    let value = settings.by_policy.get(&policy.info.name).cloned();
                    (
                        policy.info.name.clone(),
                        value.unwrap_or_else(|| serde_json::json!({})),
                    )
                })
                .collect(),
        },
    };
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let plan = Plan {
        engine: &engine,
        settings: policies
            .iter()
            .map(|policy| settings.for_policy(&policy.info.name))
            .collect(),
        policies,
        fail_on: args.fail_on,
        isolate: args.isolate,
        jobs,
    };

    let mut writer = Writer::new(outputs, &header, args.out.quiet)?;
    audit::run(&plan, &targets, |result, line| writer.target(result, &line))?;
    let summary = writer.finish(&header)?;
    if !args.out.quiet {
        let t = &summary.targets;
        let f = &summary.findings;
        eprintln!(
            "audited {} environments in {:.2} s ({jobs} threads{}): {} passed, {} failed, {} incomplete · \
             findings: {}, {}, {} info",
            t.total,
            clock.elapsed().as_secs_f64(),
            args.shard
                .map(|s| format!(", shard {s}"))
                .unwrap_or_default(),
            t.passed,
            t.failed,
            t.incomplete,
            count(f.error, "error"),
            count(f.warning, "warning"),
            f.info
        );
    }
    Ok(summary.exit_code)
}

/// `1 error`, `2 errors`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Where each format goes, checked before anything runs (as `check` does).
pub fn outputs(args: &OutputArgs) -> Result<Vec<(AuditFormat, Option<PathBuf>)>> {
    let specs = if args.format.is_empty() {
        vec![AuditOutput {
            format: AuditFormat::Jsonl,
            path: None,
        }]
    } else {
        args.format.clone()
    };
    let bare: Vec<&str> = specs
        .iter()
        .filter(|spec| spec.path.is_none())
        .map(|spec| spec.format.as_str())
        .collect();
    if bare.len() > 1 {
        bail!(
            "--format {} all go to {}: only one format can; give the others a file, e.g. `--format {}=FILE`",
            bare.join(", "),
            if args.output.is_some() {
                "--output"
            } else {
                "stdout"
            },
            bare[1]
        );
    }
    if bare.is_empty() && args.output.is_some() {
        bail!(
            "--output is where the format given without a file goes, and every --format names its own file"
        );
    }
    let mut outputs: Vec<(AuditFormat, Option<PathBuf>)> = Vec::new();
    for spec in specs {
        let path = spec.path.or_else(|| args.output.clone());
        if let Some(path) = &path {
            if outputs
                .iter()
                .any(|(_, other)| other.as_ref() == Some(path))
            {
                bail!(
                    "two outputs go to `{}`: give each its own file",
                    path.display()
                );
            }
            if path.is_dir() {
                bail!("cannot write `{}`: it is a folder", path.display());
            }
        }
        outputs.push((spec.format, path));
    }
    Ok(outputs)
}

/// The JSON Lines stream: stdout, or a temporary file renamed into place at the end
/// (so a reader never sees half an audit).
enum Stream {
    Stdout(std::io::BufWriter<std::io::Stdout>),
    /// `/dev/null`, a FIFO: written in place.
    Special(std::io::BufWriter<std::fs::File>, PathBuf),
    File {
        file: std::io::BufWriter<tempfile::NamedTempFile>,
        path: PathBuf,
    },
}

impl Stream {
    fn open(path: Option<&Path>) -> Result<Stream> {
        Ok(match path {
            None => Stream::Stdout(std::io::BufWriter::with_capacity(
                1 << 16,
                std::io::stdout(),
            )),
            Some(path) if super::is_special(path) => Stream::Special(
                std::io::BufWriter::with_capacity(
                    1 << 16,
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(path)
                        .with_context(|| format!("cannot write `{}`", path.display()))?,
                ),
                path.to_owned(),
            ),
            Some(path) => {
                let dir = match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir,
                    _ => Path::new("."),
                };
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                let file = tempfile::NamedTempFile::new_in(dir)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                Stream::File {
                    file: std::io::BufWriter::with_capacity(1 << 16, file),
                    path: path.to_owned(),
                }
            }
        })
    }

    fn write(&mut self, text: &str) -> Result<()> {
        match self {
            Stream::Stdout(out) => out.write_all(text.as_bytes())?,
            Stream::Special(file, path) => file
                .write_all(text.as_bytes())
                .with_context(|| format!("cannot write `{}`", path.display()))?,
            Stream::File { file, path } => file
                .write_all(text.as_bytes())
                .with_context(|| format!("cannot write `{}`", path.display()))?,
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            Stream::Stdout(mut out) => out.flush()?,
            Stream::Special(mut file, path) => file
                .flush()
                .with_context(|| format!("cannot write `{}`", path.display()))?,
            Stream::File { file, path } => {
                let file = file
                    .into_inner()
                    .map_err(|err| err.into_error())
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                file.persist(&path)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
            }
        }
        Ok(())
    }
}

/// Writes the outputs of an audit or a merge as targets come in, in order.
pub struct Writer {
    stream: Option<Stream>,
    /// Formats rendered at the end from every target (kept only when one is asked for).
    reports: Vec<(AuditFormat, Option<PathBuf>)>,
    kept: Vec<TargetResult>,
    tally: Tally,
    progress: Progress,
}

impl Writer {
    pub fn new(
        outputs: Vec<(AuditFormat, Option<PathBuf>)>,
        header: &Header,
        quiet: bool,
    ) -> Result<Writer> {
        let mut stream = None;
        let mut reports = Vec::new();
        for (format, path) in outputs {
            match format {
                AuditFormat::Jsonl => stream = Some(Stream::open(path.as_deref())?),
                _ => reports.push((format, path)),
            }
        }
        if let Some(stream) = &mut stream {
            stream.write(&Line::Header(Box::new(header.clone())).to_json())?;
        }
        Ok(Writer {
            stream,
            reports,
            kept: Vec::new(),
            tally: Tally::new(&header.policies),
            progress: Progress::new(header.targets, quiet),
        })
    }

    pub fn target(&mut self, result: TargetResult, line: &str) -> Result<()> {
        if let Some(stream) = &mut self.stream {
            stream.write(line)?;
        }
        self.tally.add(&result);
        self.progress.tick(self.tally.targets());
        if !self.reports.is_empty() {
            self.kept.push(result);
        }
        Ok(())
    }

    pub fn finish(self, header: &Header) -> Result<AuditSummary> {
        self.finish_at(header, waivers::rfc3339(SystemTime::now()))
    }

    pub fn finish_at(mut self, header: &Header, ended_at: String) -> Result<AuditSummary> {
        self.progress.clear();
        let summary = self.tally.finish(ended_at);
        // Reports are rendered before anything more is written.
        let rendered: Vec<(Option<PathBuf>, String)> = self
            .reports
            .iter()
            .map(|(format, path)| {
                let text = match format {
                    AuditFormat::Html => audit::html::render(header, &self.kept, &summary),
                    AuditFormat::Markdown => markdown(header, &self.kept, &summary),
                    AuditFormat::Jsonl => unreachable!("streamed"),
                };
                (path.clone(), text)
            })
            .collect();
        if let Some(mut stream) = self.stream.take() {
            stream.write(&Line::Summary(Box::new(summary.clone())).to_json())?;
            stream.finish()?;
        }
        for (path, text) in &rendered {
            write_output(path.as_deref(), text)?;
        }
        Ok(summary)
    }
}

/// A one-line progress bar on stderr, only when stderr is a terminal.
struct Progress {
    total: usize,
    enabled: bool,
    last: Option<Instant>,
}

impl Progress {
    fn new(total: usize, quiet: bool) -> Progress {
        Progress {
            total,
            enabled: !quiet && std::io::stderr().is_terminal(),
            last: None,
        }
    }

    fn tick(&mut self, counts: &audit::TargetCounts) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_millis(100))
            && counts.total < self.total
        {
            return;
        }
        self.last = Some(now);
        let width = 30;
        let filled = (counts.total * width)
            .checked_div(self.total)
            .unwrap_or(width);
        eprint!(
            "\r[{}{}] {}/{} environments · {} failed · {} incomplete ",
            "#".repeat(filled),
            " ".repeat(width - filled),
            counts.total,
            self.total,
            counts.failed,
            counts.incomplete
        );
    }

    fn clear(&mut self) {
        if self.enabled && self.last.is_some() {
            eprint!("\r{}\r", " ".repeat(100));
        }
    }
}

/// A Markdown summary: the verdict, the counts, per rule, and the environments that
/// did not pass.
fn markdown(header: &Header, targets: &[TargetResult], summary: &AuditSummary) -> String {
    use std::fmt::Write as _;
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let mut out = String::new();
    let verdict = match summary.gate {
        Gate::Passed => "✅ gate passed",
        Gate::Failed => "❌ gate FAILED",
        Gate::Incomplete => "⚠️ audit INCOMPLETE",
    };
    let t = &summary.targets;
    let f = &summary.findings;
    let _ = writeln!(
        out,
        "## preflight audit{}: {verdict}\n\n{} environments: {} passed, {} failed, {} incomplete · \
         findings: {}, {}, {} info\n",
        header
            .shard
            .map(|s| format!(" (shard {s})"))
            .unwrap_or_default(),
        t.total,
        t.passed,
        t.failed,
        t.incomplete,
        count(f.error, "error"),
        count(f.warning, "warning"),
        f.info
    );
    out.push_str("| Rule | Title | Errors | Warnings | Info | Environments |\n| --- | --- | ---: | ---: | ---: | ---: |\n");
    for rule in summary.rules.iter().filter(|r| r.counts.total() > 0) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&rule.rule_id),
            cell(&rule.title),
            rule.counts.error,
            rule.counts.warning,
            rule.counts.info,
            rule.targets
        );
    }
    let not_passed: Vec<&TargetResult> =
        targets.iter().filter(|t| t.gate != Gate::Passed).collect();
    if !not_passed.is_empty() {
        const LISTED: usize = 100;
        out.push_str("\n| Environment | Target | Gate | Errors | Warnings | Rules |\n| --- | --- | --- | ---: | ---: | --- |\n");
        for target in not_passed.iter().take(LISTED) {
            let mut rules: Vec<&str> = target.findings.iter().map(|f| f.rule_id.as_str()).collect();
            rules.dedup();
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} | {} | {} |",
                cell(target.environment.display_name.as_deref().unwrap_or("")),
                cell(&target.id),
                target.gate.as_str(),
                target.counts.error,
                target.counts.warning,
                cell(&if let Some(error) = &target.error {
                    error.clone()
                } else {
                    rules.join(", ")
                })
            );
        }
        if not_passed.len() > LISTED {
            let _ = writeln!(
                out,
                "\n…and {} more (the JSON Lines and HTML outputs list them all).",
                not_passed.len() - LISTED
            );
        }
    }
    out
}
