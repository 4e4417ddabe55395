//! The small model shared by the engine, the inputs and the reports.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule a policy declared.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub default_severity: Severity,
    pub help: String,
    pub help_url: Option<String>,
}

/// A document a policy reads.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DocumentNeed {
    pub name: String,
    pub optional: bool,
}

/// What a policy said about itself, checked by the host.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub rules: Vec<RuleInfo>,
    pub documents: Vec<DocumentNeed>,
    pub settings_schema: Option<serde_json::Value>,
}

impl PolicyInfo {
    pub fn rule(&self, id: &str) -> Option<&RuleInfo> {
        self.rules.iter().find(|rule| rule.id == id)
    }
}

/// Where a policy came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// Embedded in the binary; the file name it was built as.
    Builtin(String),
    /// A component file.
    File(std::path::PathBuf),
}

impl PolicySource {
    /// How reports name the source: `builtin:<file>` or the path.
    pub fn label(&self) -> String {
        match self {
            PolicySource::Builtin(name) => format!("builtin:{name}"),
            PolicySource::File(path) => path.display().to_string(),
        }
    }
}

/// A finding, as checked and recorded by the host.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub rule_id: String,
    pub policy: String,
    pub severity: Severity,
    pub message: String,
    /// The document's name (`environment`, `site`...).
    pub document: String,
    /// The file the document was read from.
    pub file: Option<String>,
    /// JSON pointer into the document.
    pub pointer: String,
    pub remediation: Option<String>,
}

/// How one policy's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It ran to the end (it may have findings).
    Ok,
    /// It did not run, because a document it needs was not given.
    Skipped,
    /// It could not be loaded, or it failed: the check is incomplete.
    Error,
}

/// A message a policy logged (or wrote to stdout/stderr through WASI).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogLine {
    pub level: String,
    pub message: String,
}

/// The outcome of one policy in one check.
#[derive(Clone, Debug)]
pub struct PolicyRun {
    pub status: Status,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    pub findings: Vec<Finding>,
    pub duration: Duration,
    pub fuel_used: u64,
    pub logs: Vec<LogLine>,
}

impl PolicyRun {
    pub fn error(reason: impl Into<String>) -> PolicyRun {
        PolicyRun {
            status: Status::Error,
            reason: Some(reason.into()),
            findings: Vec::new(),
            duration: Duration::ZERO,
            fuel_used: 0,
            logs: Vec::new(),
        }
    }
}
