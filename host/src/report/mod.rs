//! Reports: the stable JSON shape (`docs/json-output.md`), the terminal text, and
//! the formats other tools read (`docs/outputs.md`): SARIF, JUnit XML, GitHub
//! Actions annotations, Markdown. Waivers and the evidence of a check live here too.

mod github;
mod junit;
pub mod lines;
mod markdown;
mod sarif;
mod text;
pub mod waivers;

pub use text::render_text;
pub use waivers::{AppliedWaiver, WaiversRecord};

use crate::model::{DocumentNeed, Finding, LogLine, RuleInfo, Severity, Status};
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// An output format of `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For a person at a terminal
    Text,
    /// The whole report (docs/json-output.md)
    Json,
    /// SARIF 2.1.0, for code scanning
    Sarif,
    /// JUnit XML, one test case per rule and input
    Junit,
    /// GitHub Actions workflow commands (annotations)
    Github,
    /// Markdown, for a job summary or a pull request comment
    Markdown,
    /// One self-contained HTML page: the verdict, a chart, the findings, the rule docs
    Html,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Junit => "junit",
            Format::Github => "github",
            Format::Markdown => "markdown",
            Format::Html => "html",
        }
    }
}

/// When the gate fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    Error,
    Warning,
    Info,
    /// Never fail on findings (a policy error still exits 2).
    Never,
}

impl FailOn {
    pub fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Error => Some(Severity::Error),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Info => Some(Severity::Info),
            FailOn::Never => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Error => "error",
            FailOn::Warning => "warning",
            FailOn::Info => "info",
            FailOn::Never => "never",
        }
    }
}

/// The outcome of the gate, and the process exit code that goes with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    /// Exit 0.
    Passed,
    /// Exit 1: a finding at or above the threshold.
    Failed,
    /// Exit 2: a policy could not be loaded or failed; the check is incomplete.
    Incomplete,
}

impl Gate {
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Passed => "passed",
            Gate::Failed => "failed",
            Gate::Incomplete => "incomplete",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Gate::Passed => 0,
            Gate::Failed => 1,
            Gate::Incomplete => 2,
        }
    }
}

/// Where to read about preflight (SARIF `informationUri`).
pub const INFORMATION_URI: &str = "https://example.invalid/preflight";

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
    pub information_uri: &'static str,
}

impl Tool {
    pub fn current() -> Tool {
        Tool {
            name: "preflight",
            version: env!("CARGO_PKG_VERSION"),
            information_uri: INFORMATION_URI,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    pub document: String,
    pub path: String,
    pub sha256: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRecord {
    /// The policy's name, or the file it was to be loaded from when loading failed.
    pub name: String,
    pub version: Option<String>,
    /// `builtin:<file>` or the component's path.
    pub source: String,
    pub sha256: Option<String>,
    pub status: Status,
    pub reason: Option<String>,
    pub duration_ms: f64,
    pub fuel_used: u64,
    pub findings: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
    /// Its rules (SARIF lists them all, JUnit has a test case for each); not in the JSON.
    #[serde(skip)]
    pub rules: Vec<RuleInfo>,
    /// The documents it reads; not in the JSON.
    #[serde(skip)]
    pub documents: Vec<DocumentNeed>,
}

/// The settings a check ran with: the file and, per loaded policy, what it was given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SettingsRecord {
    pub path: Option<String>,
    pub sha256: Option<String>,
    /// Every loaded policy's effective settings (`{}` when it was given none).
    pub policies: serde_json::Map<String, serde_json::Value>,
}

/// A finding in a report: the policy's finding, where it is in its file, and the
/// waiver that accepted it.
#[derive(Clone, Debug, Serialize)]
pub struct ReportFinding {
    #[serde(flatten)]
    pub finding: Finding,
    /// The 1-based line of `pointer` in `file`, when known. Not in the JSON (SARIF,
    /// GitHub annotations and the text show it).
    #[serde(skip)]
    pub line: Option<usize>,
    /// Present when a waiver accepted the finding: it is shown, and does not fail the gate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<AppliedWaiver>,
}

impl ReportFinding {
    /// The finding, with the line of its pointer looked up in its file.
    pub fn locate(finding: Finding, lines: &mut lines::Lines) -> ReportFinding {
        let line = finding
            .file
            .as_deref()
            .and_then(|file| lines.line(std::path::Path::new(file), &finding.pointer));
        ReportFinding {
            finding,
            line,
            waiver: None,
        }
    }

    /// `file:LINE`, `file`, or the document's name when it came from no file.
    pub fn place(&self) -> String {
        match (&self.finding.file, self.line) {
            (Some(file), Some(line)) => format!("{file}:{line}"),
            (Some(file), None) => file.clone(),
            (None, _) => self.finding.document.clone(),
        }
    }
}

impl std::ops::Deref for ReportFinding {
    type Target = Finding;

    fn deref(&self) -> &Finding {
        &self.finding
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

impl Counts {
    /// Counts one more finding of `severity`.
    pub fn add(&mut self, severity: Severity) {
        match severity {
            Severity::Error => self.error += 1,
            Severity::Warning => self.warning += 1,
            Severity::Info => self.info += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.error + self.warning + self.info
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyCounts {
    pub total: usize,
    pub ok: usize,
    pub skipped: usize,
    pub error: usize,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub policies: PolicyCounts,
    /// Every finding by severity, waived ones included.
    pub findings: Counts,
    /// Findings a waiver accepted.
    pub waived: usize,
    pub fail_on: FailOn,
    pub gate: Gate,
    pub exit_code: u8,
}

impl Summary {
    /// The verdict for a person: `gate passed`, `gate FAILED` or `check INCOMPLETE`,
    /// and why.
    pub fn verdict(&self) -> (&'static str, String) {
        match self.gate {
            Gate::Passed => (
                "gate passed",
                match self.fail_on.threshold() {
                    Some(_) => format!("no finding at or above `{}`", self.fail_on.as_str()),
                    None => "findings never fail the gate (--fail-on never)".to_owned(),
                },
            ),
            Gate::Failed => (
                "gate FAILED",
                format!("findings at or above `{}`", self.fail_on.as_str()),
            ),
            Gate::Incomplete => (
                "check INCOMPLETE",
                format!(
                    "{} could not run; fix it or remove it, then check again",
                    if self.policies.error == 1 {
                        "1 policy".to_owned()
                    } else {
                        format!("{} policies", self.policies.error)
                    }
                ),
            ),
        }
    }
}

/// What a check records besides its results: when it ran, with which settings
/// and waivers.
#[derive(Clone, Debug)]
pub struct Evidence {
    pub started: SystemTime,
    pub settings: SettingsRecord,
    pub waivers: Option<WaiversRecord>,
}

/// Everything one check produced. Serialized as is for `--format json`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub tool: Tool,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub ended_at: String,
    pub inputs: Vec<InputRecord>,
    pub settings: SettingsRecord,
    pub waivers: Option<WaiversRecord>,
    pub policies: Vec<PolicyRecord>,
    pub findings: Vec<ReportFinding>,
    pub summary: Summary,
}

/// Orders JSON pointers segment by segment, array indexes as numbers, so
/// `/maps/9` comes before `/maps/11`.
fn pointer_order(a: &str, b: &str) -> std::cmp::Ordering {
    let mut left = a.split('/');
    let mut right = b.split('/');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if order.is_ne() {
                    return order;
                }
            }
        }
    }
}

/// The order of findings in every output: severity (worst first), then policy, rule,
/// document and pointer, so nothing depends on timing.
pub fn finding_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| a.policy.cmp(&b.policy))
        .then_with(|| a.rule_id.cmp(&b.rule_id))
        .then_with(|| a.document.cmp(&b.document))
        .then_with(|| pointer_order(&a.pointer, &b.pointer))
}

impl Report {
    /// Builds the report; findings are ordered by severity (worst first), then
    /// policy, rule, document and pointer, so the output does not depend on timing.
    pub fn new(
        inputs: Vec<InputRecord>,
        policies: Vec<PolicyRecord>,
        mut findings: Vec<ReportFinding>,
        fail_on: FailOn,
        evidence: Evidence,
    ) -> Report {
        findings.sort_by(|a, b| finding_order(a, b));
        let mut counts = Counts::default();
        for finding in &findings {
            counts.add(finding.severity);
        }
        let mut policy_counts = PolicyCounts {
            total: policies.len(),
            ..PolicyCounts::default()
        };
        for policy in &policies {
            match policy.status {
                Status::Ok => policy_counts.ok += 1,
                Status::Skipped => policy_counts.skipped += 1,
                Status::Error => policy_counts.error += 1,
            }
        }
        let gate = if policy_counts.error > 0 {
            Gate::Incomplete
        } else if fail_on.threshold().is_some_and(|threshold| {
            findings
                .iter()
                .any(|f| f.waiver.is_none() && f.severity >= threshold)
        }) {
            Gate::Failed
        } else {
            Gate::Passed
        };
        let waived = findings.iter().filter(|f| f.waiver.is_some()).count();
        Report {
            tool: Tool::current(),
            started_at: waivers::rfc3339(evidence.started),
            ended_at: waivers::rfc3339(SystemTime::now()),
            inputs,
            settings: evidence.settings,
            waivers: evidence.waivers,
            policies,
            findings,
            summary: Summary {
                policies: policy_counts,
                findings: counts,
                waived,
                fail_on,
                gate,
                exit_code: gate.exit_code(),
            },
        }
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a report serializes");
        text.push('\n');
        text
    }

    /// The report in `format`; `color` only matters for text.
    pub fn render(&self, format: Format, color: bool) -> String {
        match format {
            Format::Text => render_text(self, color),
            Format::Json => self.to_json(),
            Format::Sarif => sarif::render(self),
            Format::Junit => junit::render(self),
            Format::Github => github::render(self),
            Format::Markdown => markdown::render(self),
            Format::Html => {
                let (header, targets, summary) = crate::audit::from_report(self);
                crate::audit::html::render(&header, &targets, &summary)
            }
        }
    }

    /// The loaded policies' rules and the policy of each, then preflight's own.
    pub fn rules(&self) -> Vec<(&str, &RuleInfo)> {
        let mut rules: Vec<(&str, &RuleInfo)> = self
            .policies
            .iter()
            .flat_map(|policy| policy.rules.iter().map(|rule| (policy.name.as_str(), rule)))
            .collect();
        rules.extend(
            waivers::preflight_rules()
                .iter()
                .map(|rule| (waivers::PREFLIGHT, rule)),
        );
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::pointer_order;
    use std::cmp::Ordering;

    #[test]
    fn pointers_order_array_indexes_as_numbers() {
        assert_eq!(
            pointer_order("/maps/9/state", "/maps/11/state"),
            Ordering::Less
        );
        assert_eq!(pointer_order("/maps", "/maps/0"), Ordering::Less);
        assert_eq!(pointer_order("/a/b", "/a/b"), Ordering::Equal);
        assert_eq!(
            pointer_order("/solutions/2", "/environment"),
            Ordering::Greater
        );
    }
}
