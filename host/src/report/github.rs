//! The report as GitHub Actions workflow commands: one annotation per finding
//! (`::error file=…,line=…,title=…::message`), shown on the run and on the pull
//! request's changed files. Waived findings are not annotated; a policy that could
//! not run is an `::error` without a file.
//!
//! Escaping follows the Actions toolkit (`@actions/core` `command.ts`): in the
//! message `%`, `\r` and `\n`; in property values also `:` and `,`.

use super::{Report, ReportFinding};
use crate::model::{Severity, Status};
use std::fmt::Write as _;

/// Renders the report as workflow commands, one per line.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        if finding.waiver.is_none() {
            out.push_str(&annotation(finding));
        }
    }
    for policy in &report.policies {
        if policy.status == Status::Error {
            let _ = writeln!(
                out,
                "::error title={}::{}",
                property("policy error"),
                data(&format!(
                    "policy `{}` {}",
                    policy.name,
                    policy.reason.as_deref().unwrap_or("failed")
                ))
            );
        }
    }
    out
}

fn annotation(finding: &ReportFinding) -> String {
    let command = match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    };
    let mut properties = Vec::new();
    if let Some(file) = &finding.file {
        properties.push(format!("file={}", property(file)));
        if let Some(line) = finding.line {
            properties.push(format!("line={line}"));
        }
    }
    properties.push(format!("title={}", property(&finding.rule_id)));
    let mut message = finding.message.clone();
    if !finding.pointer.is_empty() {
        let _ = write!(message, "\n{}#{}", finding.document, finding.pointer);
    }
    if let Some(fix) = &finding.remediation {
        let _ = write!(message, "\nfix: {fix}");
    }
    format!("::{command} {}::{}\n", properties.join(","), data(&message))
}

/// A command's message.
fn data(value: &str) -> String {
    value
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A command's property value.
fn property(value: &str) -> String {
    data(value).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::{data, property};

    #[test]
    fn escapes_like_the_actions_toolkit() {
        assert_eq!(
            data("100% done\r\nnext: a, b"),
            "100%25 done%0D%0Anext: a, b"
        );
        assert_eq!(property("C:\\a,b%\n"), "C%3A\\a%2Cb%25%0A");
    }
}
