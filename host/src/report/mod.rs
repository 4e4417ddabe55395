//! Reports: the stable JSON shape (`docs/json-output.md`) and the terminal text.

mod text;

pub use text::render_text;

use crate::model::{Finding, LogLine, Severity, Status};
use serde::Serialize;

/// When the gate fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
    pub fn exit_code(self) -> u8 {
        match self {
            Gate::Passed => 0,
            Gate::Failed => 1,
            Gate::Incomplete => 2,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Tool {
    pub fn current() -> Tool {
        Tool {
            name: "preflight",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
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
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
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
    pub findings: Counts,
    pub fail_on: FailOn,
    pub gate: Gate,
    pub exit_code: u8,
}

/// Everything one check produced. Serialized as is for `--format json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub tool: Tool,
    pub inputs: Vec<InputRecord>,
    pub policies: Vec<PolicyRecord>,
    pub findings: Vec<Finding>,
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

impl Report {
    /// Builds the report; findings are ordered by severity (worst first), then
    /// policy, rule, document and pointer, so the output does not depend on timing.
    pub fn new(
        inputs: Vec<InputRecord>,
        policies: Vec<PolicyRecord>,
        mut findings: Vec<Finding>,
        fail_on: FailOn,
    ) -> Report {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.policy.cmp(&b.policy))
                .then_with(|| a.rule_id.cmp(&b.rule_id))
                .then_with(|| a.document.cmp(&b.document))
                .then_with(|| pointer_order(&a.pointer, &b.pointer))
        });
        let mut counts = Counts::default();
        for finding in &findings {
            match finding.severity {
                Severity::Error => counts.error += 1,
                Severity::Warning => counts.warning += 1,
                Severity::Info => counts.info += 1,
            }
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
        } else if fail_on
            .threshold()
            .is_some_and(|threshold| findings.iter().any(|f| f.severity >= threshold))
        {
            Gate::Failed
        } else {
            Gate::Passed
        };
        Report {
            tool: Tool::current(),
            inputs,
            policies,
            findings,
            summary: Summary {
                policies: policy_counts,
                findings: counts,
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
}

#[cfg(test)]
mod tests {
    use super::pointer_order;
    use std::cmp::Ordering;

    #[test]
    fn pointers_order_array_indexes_as_numbers() {
        assert_eq!(pointer_order("/maps/9/state", "/maps/11/state"), Ordering::Less);
        assert_eq!(pointer_order("/maps", "/maps/0"), Ordering::Less);
        assert_eq!(pointer_order("/a/b", "/a/b"), Ordering::Equal);
        assert_eq!(pointer_order("/solutions/2", "/environment"), Ordering::Greater);
    }
}
