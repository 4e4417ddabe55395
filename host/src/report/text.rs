//! The report as text for a terminal. Colour only when asked (a TTY without `NO_COLOR`).

use super::{Gate, Report};
use crate::model::{Severity, Status};
use std::fmt::Write as _;

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn severity(&self, severity: Severity) -> String {
        let code = match severity {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
            Severity::Info => "1;36",
        };
        self.paint(code, severity.as_str())
    }

    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("{count} {word}")
    } else {
        format!("{count} {word}s")
    }
}

/// Renders the report for a person.
pub fn render_text(report: &Report, color: bool) -> String {
    let style = Style { color };
    let mut out = String::new();

    for finding in &report.findings {
        let _ = writeln!(
            out,
            "{}{}{} {}",
            style.severity(finding.severity),
            style.bold(&format!("[{}]:", finding.rule_id)),
            if finding.waiver.is_some() {
                " (waived)"
            } else {
                ""
            },
            finding.message
        );
        let place = match finding.pointer.is_empty() {
            false => format!("{}#{}", finding.place(), finding.pointer),
            true => finding.place(),
        };
        let _ = writeln!(out, "  {} {place}", style.dim("-->"));
        if let Some(fix) = &finding.remediation {
            let _ = writeln!(out, "   {} fix: {fix}", style.dim("="));
        }
        let _ = writeln!(out, "   {} policy: {}", style.dim("="), finding.policy);
        if let Some(waiver) = &finding.waiver {
            let _ = writeln!(
                out,
                "   {} waived until {} by {}: {}",
                style.dim("="),
                waiver.expires,
                waiver.owner,
                waiver.reason
            );
        }
        out.push('\n');
    }

    let mut listed = false;
    for policy in &report.policies {
        listed |= policy.status != Status::Ok;
        let label = match policy.status {
            Status::Ok => continue,
            Status::Skipped => style.paint("33", "skipped"),
            Status::Error => style.paint("1;31", "policy error"),
        };
        let reason = policy.reason.as_deref().unwrap_or("");
        let _ = writeln!(out, "{label}: `{}` {reason}", policy.name);
    }

    let summary = &report.summary;
    let counts = &summary.findings;
    let policies = &summary.policies;
    if listed {
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{}: {} ok, {} skipped, {} failed · {}: {}, {}, {} info{}",
        plural(policies.total, "policy").replace("policys", "policies"),
        policies.ok,
        policies.skipped,
        policies.error,
        plural(report.findings.len(), "finding"),
        plural(counts.error, "error"),
        plural(counts.warning, "warning"),
        counts.info,
        if summary.waived > 0 {
            format!(" ({} waived)", summary.waived)
        } else {
            String::new()
        },
    );
    let verdict = match summary.gate {
        Gate::Passed => style.paint("1;32", "gate passed"),
        Gate::Failed => style.paint("1;31", "gate FAILED"),
        Gate::Incomplete => style.paint("1;31", "check INCOMPLETE"),
    };
    let why = match summary.gate {
        Gate::Passed => match summary.fail_on.threshold() {
            Some(_) => format!("no finding at or above `{}`", summary.fail_on.as_str()),
            None => "findings never fail the gate (--fail-on never)".to_owned(),
        },
        Gate::Failed => format!("findings at or above `{}`", summary.fail_on.as_str()),
        Gate::Incomplete => format!(
            "{} could not run; fix it or remove it, then check again",
            plural(policies.error, "policy").replace("policys", "policies")
        ),
    };
    let _ = writeln!(out, "{verdict}: {why}");
    out
}
