//! The report as Markdown, for a CI job summary (`$GITHUB_STEP_SUMMARY`) or a pull
//! request comment: the verdict, a table of the findings, the waived findings, and
//! the policies that did not run.

use super::{Gate, Report, ReportFinding};
use crate::model::Status;
use std::fmt::Write as _;

/// Renders the report as GitHub-flavoured Markdown.
pub fn render(report: &Report) -> String {
    let summary = &report.summary;
    let (verdict, why) = summary.verdict();
    let icon = match summary.gate {
        Gate::Passed => "✅",
        Gate::Failed => "❌",
        Gate::Incomplete => "⚠️",
    };
    let mut out = String::new();
    let _ = writeln!(out, "## preflight: {verdict}\n");
    let _ = writeln!(out, "{icon} **{verdict}**: {}\n", cell(&why));
    let counts = &summary.findings;
    let policies = &summary.policies;
    let _ = writeln!(
        out,
        "{}: {} ok, {} skipped, {} failed · {}: {}, {}, {} info{}\n",
        plural(policies.total, "policy", "policies"),
        policies.ok,
        policies.skipped,
        policies.error,
        plural(report.findings.len(), "finding", "findings"),
        plural(counts.error, "error", "errors"),
        plural(counts.warning, "warning", "warnings"),
        counts.info,
        if summary.waived > 0 {
            format!(" ({} waived)", summary.waived)
        } else {
            String::new()
        }
    );

    let open: Vec<&ReportFinding> = report
        .findings
        .iter()
        .filter(|finding| finding.waiver.is_none())
        .collect();
    if !open.is_empty() {
        out.push_str("| Severity | Rule | Message | Location |\n| --- | --- | --- | --- |\n");
        for finding in open {
            let mut message = cell(&finding.message);
            if let Some(fix) = &finding.remediation {
                let _ = write!(message, "<br>**Fix:** {}", cell(fix));
            }
            let _ = writeln!(
                out,
                "| {} | `{}` {} | {message} | {} |",
                finding.severity,
                finding.rule_id,
                cell(&finding.policy),
                location(finding)
            );
        }
        out.push('\n');
    }

    let waived: Vec<&ReportFinding> = report
        .findings
        .iter()
        .filter(|finding| finding.waiver.is_some())
        .collect();
    if !waived.is_empty() {
        out.push_str("### Waived findings\n\n");
        out.push_str(
            "| Severity | Rule | Message | Location | Waiver |\n| --- | --- | --- | --- | --- |\n",
        );
        for finding in waived {
            let waiver = finding.waiver.as_ref().expect("waived");
            let _ = writeln!(
                out,
                "| {} | `{}` {} | {} | {} | {} (owner: {}, until {}) |",
                finding.severity,
                finding.rule_id,
                cell(&finding.policy),
                cell(&finding.message),
                location(finding),
                cell(&waiver.reason),
                cell(&waiver.owner),
                waiver.expires
            );
        }
        out.push('\n');
    }

    let not_run: Vec<String> = report
        .policies
        .iter()
        .filter_map(|policy| {
            let label = match policy.status {
                Status::Ok => return None,
                Status::Skipped => "skipped",
                Status::Error => "**policy error**",
            };
            Some(format!(
                "- {label}: `{}` {}",
                cell(&policy.name),
                cell(policy.reason.as_deref().unwrap_or(""))
            ))
        })
        .collect();
    if !not_run.is_empty() {
        out.push_str("### Policies that did not run\n\n");
        for line in not_run {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn location(finding: &ReportFinding) -> String {
    if finding.pointer.is_empty() {
        format!("`{}`", code(&finding.place()))
    } else {
        format!(
            "`{}`<br>`{}`",
            code(&finding.place()),
            code(&finding.pointer)
        )
    }
}

/// Text for a table cell: pipes escaped, line breaks as `<br>`, no raw HTML.
fn cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace('\n', "<br>")
}

/// Text inside a code span in a table cell: only pipes and backticks need care.
fn code(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('`', "'")
        .replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a | b\nc <d>"), "a \\| b<br>c &lt;d&gt;");
    }
}
