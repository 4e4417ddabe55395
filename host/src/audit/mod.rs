//! Batch audits: the pack over many environment snapshots (with their sites), on
//! every core, streamed as JSON Lines in a deterministic order, so that shards of a
//! fleet run on many machines merge into exactly the report one run would give.
//!
//! The stream (`docs/audit.md`) is a `header` line, one `target` line per snapshot
//! in target order, and a `summary` line. Nothing in a `target` line depends on
//! timing or on the number of threads.

pub mod fleet;
pub mod html;

use crate::engine::{Document, Engine, Policy, tape};
use crate::inputs;
use crate::model::{Finding, Severity, Status};
use crate::report::{Counts, FailOn, Gate, InputRecord, PolicyCounts, SettingsRecord};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// File names that make a folder one target: its snapshot.
const SNAPSHOT_NAMES: &[&str] = &["environment.json", "environment.yaml", "environment.yml"];

/// One thing to audit: an environment snapshot and, beside it, what else was exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// How the target is named in outputs, and what orders and shards targets: the
    /// path as given (a snapshot file, or a folder holding `environment.json`).
    pub id: String,
    pub env: PathBuf,
    /// `site/`, `template/`, `base-template/` beside the snapshot, when present.
    pub site: Option<PathBuf>,
    pub template: Option<PathBuf>,
    pub base_template: Option<PathBuf>,
}

/// Finds the targets under `paths`: a file is a snapshot; a folder with an
/// `environment.json` (or `.yaml`) is one target with the `site/`, `template/` and
/// `base-template/` folders beside it; any other folder is searched (hidden entries
/// skipped) for such folders and for `*.json`, `*.yaml` and `*.yml` snapshots.
/// Sorted by id, duplicates dropped.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    for path in paths {
        if path.is_file() {
            targets.push(file_target(path));
        } else if path.is_dir() {
            walk(path, &mut targets)?;
        } else if path.exists() {
            bail!("`{}` is neither a file nor a folder", path.display());
        } else {
            bail!("`{}` does not exist", path.display());
        }
    }
    targets.sort_by(|a, b| a.id.cmp(&b.id));
    targets.dedup_by(|a, b| a.id == b.id);
    Ok(targets)
}

fn file_target(path: &Path) -> Target {
    Target {
        id: path.display().to_string(),
        env: path.to_owned(),
        site: None,
        template: None,
        base_template: None,
    }
}

fn walk(dir: &Path, targets: &mut Vec<Target>) -> Result<()> {
    // The entries with their types, as the folder listing gives them: no `stat`
    // per file (a fleet is thousands of files), except to follow a symbolic link.
    let mut entries: Vec<(PathBuf, bool)> = Vec::new();
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder `{}`", dir.display()))?
    {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        if path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with('.'))
        {
            continue;
        }
        let is_dir = match entry.file_type() {
            Ok(kind) if kind.is_symlink() => path.is_dir(),
            Ok(kind) => kind.is_dir(),
            Err(_) => path.is_dir(),
        };
        entries.push((path, is_dir));
    }
    entries.sort();
    let is_file = |name: &str| {
        entries
            .iter()
            .find(|(path, _)| path.file_name().is_some_and(|file| file == name))
            .is_some_and(|(path, is_dir)| !is_dir && path.is_file())
    };
    if let Some(env) = SNAPSHOT_NAMES
        .iter()
        .find(|name| is_file(name))
        .map(|name| dir.join(name))
    {
        let beside = |name: &str| Some(dir.join(name)).filter(|path| path.exists());
        targets.push(Target {
            id: dir.display().to_string(),
            env,
            site: beside("site"),
            template: beside("template"),
            base_template: beside("base-template"),
        });
        return Ok(());
    }
    for (path, is_dir) in entries {
        if is_dir {
            walk(&path, targets)?;
        } else if path
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| matches!(ext, "json" | "yaml" | "yml"))
        {
            targets.push(file_target(&path));
        }
    }
    Ok(())
}

/// `--shard K/N`: the K-th of N disjoint parts of the targets. A target's part
/// depends on its id alone (a stable hash), so every job of a matrix agrees on the
/// split without talking to the others, whatever order they list the fleet in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not a shard: write K/N with 1 <= K <= N, e.g. 2/8");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    pub fn contains(&self, id: &str) -> bool {
        // FNV-1a, 64 bits: fixed forever, so shards agree across versions and machines.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in id.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

// ---------------------------------------------------------------------------------
// The JSON Lines records (docs/audit.md).

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolRecord {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleRecord {
    pub id: String,
    pub title: String,
    pub default_severity: Severity,
    /// Its documentation (Markdown), for the HTML report.
    pub help: String,
    pub help_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEntry {
    pub name: String,
    pub version: String,
    pub source: String,
    pub sha256: String,
    pub rules: Vec<RuleRecord>,
}

/// The first line: what ran, with what, over how many targets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub tool: ToolRecord,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// Set for one shard's output; `null` for a whole run (or a merge of all shards).
    pub shard: Option<Shard>,
    /// Targets in this output.
    pub targets: usize,
    pub fail_on: FailOn,
    /// Whether every evaluation had a fresh instance (`--isolate`).
    pub isolate: bool,
    pub policies: Vec<PolicyEntry>,
    pub settings: SettingsRecord,
}

/// A finding in the audit stream: the policy's finding and its line in its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditFinding {
    pub rule_id: String,
    pub policy: String,
    pub severity: Severity,
    pub message: String,
    pub document: String,
    pub file: Option<String>,
    pub pointer: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remediation: Option<String>,
}

/// Who the snapshot says the environment is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentRecord {
    pub id: Option<String>,
    pub display_name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyError {
    pub policy: String,
    pub reason: String,
}

/// One line per target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetResult {
    pub id: String,
    pub gate: Gate,
    /// Why the target could not be checked (unreadable or invalid input).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    pub environment: EnvironmentRecord,
    pub inputs: Vec<InputRecord>,
    pub policies: PolicyCounts,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub policy_errors: Vec<PolicyError>,
    pub counts: Counts,
    pub findings: Vec<AuditFinding>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetCounts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub incomplete: usize,
}

/// Per rule: its findings by severity, and on how many targets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleTally {
    pub rule_id: String,
    pub policy: String,
    pub title: String,
    /// Its findings by severity (`error`, `warning`, `info` in the JSON).
    #[serde(flatten)]
    pub counts: Counts,
    pub targets: usize,
}

/// The last line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditSummary {
    pub ended_at: String,
    pub targets: TargetCounts,
    pub findings: Counts,
    pub rules: Vec<RuleTally>,
    pub gate: Gate,
    pub exit_code: u8,
}

/// A line of the stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line {
    Header(Box<Header>),
    Target(Box<TargetResult>),
    Summary(Box<AuditSummary>),
}

/// The `target` line of a result, serialized without giving the result up.
pub fn target_line(result: &TargetResult) -> String {
    /// [`Line::Target`], borrowed: the same JSON.
    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "lowercase")]
    enum Borrowed<'a> {
        Target(&'a TargetResult),
    }
    let mut text =
        serde_json::to_string(&Borrowed::Target(result)).expect("audit records serialize");
    text.push('\n');
    text
}

impl Line {
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string(self).expect("audit records serialize");
        text.push('\n');
        text
    }
}

/// Adds targets up, in order, into the summary: the same code for a run and a merge,
/// so the two cannot disagree.
pub struct Tally {
    targets: TargetCounts,
    findings: Counts,
    rules: Vec<RuleTally>,
}

impl Tally {
    /// Rules listed in the order the policies declare them.
    pub fn new(policies: &[PolicyEntry]) -> Tally {
        let mut rules: Vec<RuleTally> = policies
            .iter()
            .flat_map(|policy| {
                policy.rules.iter().map(|rule| RuleTally {
                    rule_id: rule.id.clone(),
                    policy: policy.name.clone(),
                    title: rule.title.clone(),
                    counts: Counts::default(),
                    targets: 0,
                })
            })
            .collect();
        rules.dedup_by(|a, b| a.rule_id == b.rule_id && a.policy == b.policy);
        Tally {
            targets: TargetCounts::default(),
            findings: Counts::default(),
            rules,
        }
    }

    pub fn add(&mut self, target: &TargetResult) {
        self.targets.total += 1;
        match target.gate {
            Gate::Passed => self.targets.passed += 1,
            Gate::Failed => self.targets.failed += 1,
            Gate::Incomplete => self.targets.incomplete += 1,
        }
        let mut seen: Vec<usize> = Vec::new();
        for finding in &target.findings {
            self.findings.add(finding.severity);
            let Some(at) = self
                .rules
                .iter()
                .position(|rule| rule.rule_id == finding.rule_id && rule.policy == finding.policy)
            else {
                continue;
            };
            let rule = &mut self.rules[at];
            rule.counts.add(finding.severity);
            if !seen.contains(&at) {
                seen.push(at);
                rule.targets += 1;
            }
        }
    }

    pub fn targets(&self) -> &TargetCounts {
        &self.targets
    }

    pub fn finish(self, ended_at: String) -> AuditSummary {
        let gate = if self.targets.incomplete > 0 {
            Gate::Incomplete
        } else if self.targets.failed > 0 {
            Gate::Failed
        } else {
            Gate::Passed
        };
        AuditSummary {
            ended_at,
            targets: self.targets,
            findings: self.findings,
            rules: self.rules,
            gate,
            exit_code: gate.exit_code(),
        }
    }
}

pub fn policy_entry(policy: &Policy) -> PolicyEntry {
    PolicyEntry {
        name: policy.info.name.clone(),
        version: policy.info.version.clone(),
        source: policy.source.label(),
        sha256: policy.sha256.clone(),
        rules: policy.info.rules.iter().map(RuleRecord::from).collect(),
    }
}

impl From<&crate::model::RuleInfo> for RuleRecord {
    fn from(rule: &crate::model::RuleInfo) -> RuleRecord {
        RuleRecord {
            id: rule.id.clone(),
            title: rule.title.clone(),
            default_severity: rule.default_severity,
            help: rule.help.clone(),
            help_url: rule.help_url.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------
// Running.

/// What every target is checked with.
pub struct Plan<'a> {
    pub engine: &'a Engine,
    pub policies: Vec<&'a Policy>,
    /// Each policy's settings as JSON text, in the order of `policies`.
    pub settings: Vec<String>,
    pub fail_on: FailOn,
    /// A fresh instance for every evaluation instead of one kept per policy and thread.
    pub isolate: bool,
    /// Worker threads.
    pub jobs: usize,
}

/// Checks every target on `plan.jobs` threads and hands each result, with its JSON
/// line, to `sink` in target order (whatever order the threads finish in).
pub fn run(
    plan: &Plan<'_>,
    targets: &[Target],
    mut sink: impl FnMut(TargetResult, String) -> Result<()>,
) -> Result<()> {
    // Threads take targets in small batches and send each batch's results at once:
    // one wake-up of the writer per batch, not per target.
    const BATCH: usize = 16;
    let next = AtomicUsize::new(0);
    let jobs = plan.jobs.clamp(1, targets.len().max(1));
    type Batch = Vec<(usize, TargetResult, String)>;
    std::thread::scope(|scope| -> Result<()> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Batch>(jobs * 8);
        for worker in 0..jobs {
            let sender = sender.clone();
            let next = &next;
            std::thread::Builder::new()
                .name(format!("preflight-audit-{worker}"))
                .spawn_scoped(scope, move || {
                    let mut runner = plan.engine.runner();
                    loop {
                        let start = next.fetch_add(BATCH, Ordering::Relaxed);
                        if start >= targets.len() {
                            break;
                        }
                        let end = (start + BATCH).min(targets.len());
                        let batch: Batch = (start..end)
                            .map(|index| {
                                let result = check_target(plan, &mut runner, &targets[index]);
                                let text = target_line(&result);
                                (index, result, text)
                            })
                            .collect();
                        if sender.send(batch).is_err() {
                            // The writer stopped (an output error): stop too.
                            break;
                        }
                    }
                })
                .context("starting an audit thread")?;
        }
        drop(sender);
        // Results arrive in any order; hold the early ones until their turn.
        let mut waiting: BTreeMap<usize, (TargetResult, String)> = BTreeMap::new();
        let mut due = 0;
        for batch in receiver {
            for (index, result, text) in batch {
                waiting.insert(index, (result, text));
            }
            while let Some((result, text)) = waiting.remove(&due) {
                sink(result, text)?;
                due += 1;
            }
        }
        if due != targets.len() {
            bail!(
                "an audit thread stopped early ({due} of {} targets)",
                targets.len()
            );
        }
        Ok(())
    })
}

/// An input of a target, as the policies get it, with what finds the lines of
/// its findings.
struct Loaded {
    name: String,
    path: PathBuf,
    sha256: String,
    document: Document,
    lines: Lines,
}

enum Lines {
    /// JSON parsed straight into a tape: the line of every value, from the parse.
    Tape(Vec<(u32, u32)>),
    /// Anything else: the text, scanned when a finding needs a line.
    Text(String),
    /// A site folder: no one file to point into.
    None,
}

impl Loaded {
    /// The lines of `pointers` in this input.
    fn lines_of(&self, pointers: &[&str]) -> Vec<Option<usize>> {
        match &self.lines {
            Lines::Tape(lines) => tape::lines_of(self.document.tape(), lines, pointers),
            Lines::Text(text) => crate::report::lines::lines_of(text, pointers),
            Lines::None => vec![None; pointers.len()],
        }
    }
}

/// An input error with its causes, on one line (`cannot read `x`: No such file...`).
fn describe(err: inputs::InputError) -> String {
    format!("{:#}", anyhow::Error::from(err))
}

/// Reads a document file. JSON goes straight into a tape when the fast path takes
/// it ([`tape::parse_json`]); anything else (YAML, or what the fast path leaves to
/// serde_json, errors included) is read as `check` reads it. `is_valid` decides
/// whether the tape may be used; when it says no, the slow path gives the error.
fn load_file(
    name: &str,
    path: &Path,
    is_valid: impl Fn(&[u8]) -> bool,
) -> Result<Loaded, inputs::InputError> {
    let (sha256, text) = inputs::read(path)?;
    if inputs::is_json(path, &text)
        && let Some(parsed) = tape::parse_json(&text)
        && tape::Reader::new(&parsed.tape).tag(tape::ROOT) == tape::OBJECT
        && is_valid(&parsed.tape)
    {
        return Ok(Loaded {
            name: name.to_owned(),
            path: path.to_owned(),
            sha256,
            document: Document::from_tape(name, parsed.tape),
            lines: Lines::Tape(parsed.lines),
        });
    }
    let input = inputs::document_from_text(name, path, sha256, &text)?;
    Ok(Loaded {
        name: input.name,
        path: input.path,
        sha256: input.sha256,
        document: Document::new(name, input.value),
        lines: Lines::Text(text),
    })
}

/// The snapshot, checked against the schema as `check` checks it.
fn load_env(path: &Path) -> Result<Loaded, String> {
    let loaded = load_file(
        "environment",
        path,
        inputs::schema::is_valid_environment_tape,
    )
    .map_err(describe)?;
    // A tape was validated already; a value is validated here, the fast way first
    // (the violations are collected only for an invalid snapshot).
    if let Lines::Text(_) = loaded.lines
        && !inputs::schema::is_valid_environment(loaded.document.value())
    {
        return Err(inputs::schema::SchemaError {
            path: path.to_owned(),
            violations: inputs::schema::environment_violations(loaded.document.value()),
        }
        .to_string());
    }
    Ok(loaded)
}

fn load_other(name: &str, path: &Path) -> Result<Loaded, String> {
    if path.is_dir() {
        inputs::site::load_site(name, path)
            .map(|input| Loaded {
                document: Document::new(name, input.value),
                name: input.name,
                path: input.path,
                sha256: input.sha256,
                lines: Lines::None,
            })
            .map_err(describe)
    } else {
        load_file(name, path, |_| true).map_err(describe)
    }
}

fn load_target(target: &Target) -> Result<Vec<Loaded>, String> {
    let mut loaded = vec![load_env(&target.env)?];
    for (name, path) in [
        ("site", &target.site),
        ("template", &target.template),
        ("base-template", &target.base_template),
    ] {
        if let Some(path) = path {
            loaded.push(load_other(name, path)?);
        }
    }
    Ok(loaded)
}

fn environment_record(env: &Document) -> EnvironmentRecord {
    let text = |pointer: &str| env.str_at(pointer).map(str::to_owned);
    EnvironmentRecord {
        id: text("/environment/id"),
        display_name: text("/environment/displayName"),
        kind: text("/environment/type"),
    }
}

/// Checks one target. Never fails: what goes wrong is in the result.
pub fn check_target(
    plan: &Plan<'_>,
    runner: &mut crate::engine::Runner<'_>,
    target: &Target,
) -> TargetResult {
    let loaded = match load_target(target) {
        Ok(loaded) => loaded,
        Err(error) => {
            return TargetResult {
                id: target.id.clone(),
                gate: Gate::Incomplete,
                error: Some(error),
                environment: EnvironmentRecord::default(),
                inputs: Vec::new(),
                policies: PolicyCounts::default(),
                policy_errors: Vec::new(),
                counts: Counts::default(),
                findings: Vec::new(),
            };
        }
    };
    let documents: Vec<Document> = loaded
        .iter()
        .map(|loaded| loaded.document.clone())
        .collect();
    let mut counts = PolicyCounts {
        total: plan.policies.len(),
        ..PolicyCounts::default()
    };
    let mut policy_errors = Vec::new();
    let mut found: Vec<Finding> = Vec::new();
    for (slot, policy) in plan.policies.iter().enumerate() {
        let settings = &plan.settings[slot];
        let run = if plan.isolate {
            plan.engine.evaluate(policy, &documents, settings)
        } else {
            runner.evaluate(slot, policy, &documents, settings)
        };
        match run.status {
            Status::Ok => counts.ok += 1,
            Status::Skipped => counts.skipped += 1,
            Status::Error => {
                counts.error += 1;
                policy_errors.push(PolicyError {
                    policy: policy.info.name.clone(),
                    reason: run.reason.clone().unwrap_or_default(),
                });
            }
        }
        found.extend(run.findings);
    }
    found.sort_by(crate::report::finding_order);
    // Lines of every finding, all of a document's at once.
    let mut lines: Vec<Option<usize>> = vec![None; found.len()];
    for source in &loaded {
        let (indexes, pointers): (Vec<usize>, Vec<&str>) = found
            .iter()
            .enumerate()
            .filter(|(_, finding)| finding.document == source.name)
            .map(|(index, finding)| (index, finding.pointer.as_str()))
            .unzip();
        if pointers.is_empty() {
            continue;
        }
        for (index, line) in indexes.into_iter().zip(source.lines_of(&pointers)) {
            lines[index] = line;
        }
    }
    let mut severity_counts = Counts::default();
    let findings: Vec<AuditFinding> = found
        .into_iter()
        .zip(lines)
        .map(|(finding, line)| {
            severity_counts.add(finding.severity);
            let source = loaded.iter().find(|loaded| loaded.name == finding.document);
            AuditFinding {
                file: source.map(|source| source.path.display().to_string()),
                line,
                rule_id: finding.rule_id,
                policy: finding.policy,
                severity: finding.severity,
                message: finding.message,
                document: finding.document,
                pointer: finding.pointer,
                remediation: finding.remediation,
            }
        })
        .collect();
    let gate = if counts.error > 0 {
        Gate::Incomplete
    } else if plan
        .fail_on
        .threshold()
        .is_some_and(|threshold| findings.iter().any(|f| f.severity >= threshold))
    {
        Gate::Failed
    } else {
        Gate::Passed
    };
    let env = &loaded[0];
    TargetResult {
        id: target.id.clone(),
        gate,
        error: None,
        environment: environment_record(&env.document),
        inputs: loaded
            .iter()
            .map(|loaded| InputRecord {
                document: loaded.name.clone(),
                path: loaded.path.display().to_string(),
                sha256: loaded.sha256.clone(),
            })
            .collect(),
        policies: counts,
        policy_errors,
        counts: severity_counts,
        findings,
    }
}

/// A `check` report as an audit of one target, for the HTML report.
pub fn from_report(report: &crate::report::Report) -> (Header, Vec<TargetResult>, AuditSummary) {
    let policies: Vec<PolicyEntry> = report
        .policies
        .iter()
        .filter(|policy| policy.version.is_some())
        .map(|policy| PolicyEntry {
            name: policy.name.clone(),
            version: policy.version.clone().unwrap_or_default(),
            source: policy.source.clone(),
            sha256: policy.sha256.clone().unwrap_or_default(),
            rules: policy.rules.iter().map(RuleRecord::from).collect(),
        })
        .collect();
    let header = Header {
        tool: ToolRecord {
            name: report.tool.name.to_owned(),
            version: report.tool.version.to_owned(),
        },
        started_at: report.started_at.clone(),
        shard: None,
        targets: 1,
        fail_on: report.summary.fail_on,
        isolate: true,
        policies,
        settings: report.settings.clone(),
    };
    let id = report
        .inputs
        .iter()
        .find(|input| input.document == "environment")
        .or(report.inputs.first())
        .map(|input| input.path.clone())
        .unwrap_or_default();
    let environment = EnvironmentRecord::default();
    let target = TargetResult {
        id,
        gate: report.summary.gate,
        error: None,
        environment,
        inputs: report.inputs.clone(),
        policies: report.summary.policies.clone(),
        policy_errors: report
            .policies
            .iter()
            .filter(|policy| policy.status == Status::Error)
            .map(|policy| PolicyError {
                policy: policy.name.clone(),
                reason: policy.reason.clone().unwrap_or_default(),
            })
            .collect(),
        counts: report.summary.findings.clone(),
        findings: report
            .findings
            .iter()
            .map(|finding| AuditFinding {
                rule_id: finding.rule_id.clone(),
                policy: finding.policy.clone(),
                severity: finding.severity,
                message: match &finding.waiver {
                    Some(_) => format!("{} (waived)", finding.message),
                    None => finding.message.clone(),
                },
                document: finding.document.clone(),
                file: finding.file.clone(),
                pointer: finding.pointer.clone(),
                line: finding.line,
                remediation: finding.remediation.clone(),
            })
            .collect(),
    };
    let mut tally = Tally::new(&header.policies);
    tally.add(&target);
    let mut summary = tally.finish(report.ended_at.clone());
    // The gate is the check's own (waivers, --fail-on and policy errors decided it).
    summary.gate = report.summary.gate;
    summary.exit_code = report.summary.exit_code;
    (header, vec![target], summary)
}

// ---------------------------------------------------------------------------------
// Reading a stream back (`preflight merge`).

/// One shard's output, read back and checked line by line.
pub struct Stream {
    pub path: PathBuf,
    pub header: Header,
    pub targets: Vec<TargetResult>,
    pub summary: AuditSummary,
}

/// Reads a JSON Lines audit output. Every problem names the file and the line.
pub fn read_stream(path: &Path) -> Result<Stream> {
    use std::io::BufRead;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut header = None;
    let mut summary = None;
    let mut targets = Vec::new();
    let mut ids: HashSet<String> = HashSet::new();
    for (number, text) in std::io::BufReader::new(file).lines().enumerate() {
        let number = number + 1;
        let text = text.with_context(|| format!("cannot read `{}`", path.display()))?;
        if text.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(&text).map_err(|err| {
            anyhow::anyhow!(
                "`{}` line {number}: not a preflight audit record: {err}",
                path.display()
            )
        })?;
        match (line, &header, &summary) {
            (_, _, Some(_)) => bail!(
                "`{}` line {number}: a record after the summary line",
                path.display()
            ),
            (Line::Header(h), None, None) => header = Some(*h),
            (Line::Header(_), Some(_), _) => {
                bail!("`{}` line {number}: a second header", path.display())
            }
            (_, None, _) => bail!(
                "`{}` line {number}: the first record must be the header (is this an audit output?)",
                path.display()
            ),
            (Line::Target(target), Some(_), None) => {
                if !ids.insert(target.id.clone()) {
                    bail!(
                        "`{}` line {number}: the target `{}` appears twice",
                        path.display(),
                        target.id
                    );
                }
                targets.push(*target);
            }
            (Line::Summary(s), Some(_), None) => summary = Some(*s),
        }
    }
    let Some(header) = header else {
        bail!("`{}` is empty: not an audit output", path.display());
    };
    let Some(summary) = summary else {
        bail!(
            "`{}` has no summary line: the audit that wrote it did not finish",
            path.display()
        );
    };
    if targets.len() != header.targets {
        bail!(
            "`{}` has {} targets, but its header says {}",
            path.display(),
            targets.len(),
            header.targets
        );
    }
    Ok(Stream {
        path: path.to_owned(),
        header,
        targets,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_targets_into_disjoint_parts_that_cover_them_all() {
        let ids: Vec<String> = (0..1000)
            .map(|i| format!("fleet/{i:03}/env.json"))
            .collect();
        let shards: Vec<Shard> = (1..=4).map(|k| Shard { index: k, count: 4 }).collect();
        let mut sizes = [0usize; 4];
        for id in &ids {
            let owners: Vec<usize> = (0..4).filter(|&k| shards[k].contains(id)).collect();
            assert_eq!(owners.len(), 1, "{id} is in shards {owners:?}");
            sizes[owners[0]] += 1;
        }
        // Balanced enough for a matrix: each part within 20% of a quarter.
        assert!(sizes.iter().all(|&n| (200..300).contains(&n)), "{sizes:?}");
    }

    #[test]
    fn shard_syntax_is_checked() {
        assert_eq!(Shard::parse("2/8"), Ok(Shard { index: 2, count: 8 }));
        for bad in ["0/3", "4/3", "1/0", "x/2", "3", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
